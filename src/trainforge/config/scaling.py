"""Scaling settings of `train`: devices, strategy, precision, batch size finder; their checks.

Kept apart from `train.py` so the section keeps its fields and one hook each way:
`scaling_input` before validation, `check_scaling` after.
"""

from __future__ import annotations

from typing import Any

STRATEGIES = ("auto", "ddp", "fsdp")
PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def scaling_input(raw: Any) -> Any:
    """Spellings the YAML allows beyond the field types: `batch_size: auto` (the batch size
    finder, starting from the default batch size) and `precision: 32` written as a number."""
    if not isinstance(raw, dict):
        return raw
    raw = dict(raw)
    if raw.get("batch_size") == "auto":
        del raw["batch_size"]
        raw["auto_batch_size"] = True
    if isinstance(raw.get("precision"), int) and not isinstance(raw["precision"], bool):
        raw["precision"] = str(raw["precision"])
    return raw


def check_scaling(train: Any) -> None:
    """Raise ValueError for combinations Lightning would refuse later, or run badly.

    Only what the config alone decides is checked here; whether a GPU is present is checked
    when the Trainer is assembled (`trainforge.training.distributed.check_hardware`).
    """
    if isinstance(train.devices, int) and train.devices < 1:
        raise ValueError(f"devices must be 'auto' or at least 1; got {train.devices}")
    if train.accelerator == "cpu":
        if train.precision == "16-mixed":
            raise ValueError(
                "precision '16-mixed' needs a GPU; with accelerator 'cpu' use 'bf16-mixed' "
                "(CPU autocast) or '32'"
            )
        if train.strategy == "fsdp":
            raise ValueError(
                "strategy 'fsdp' shards the model over GPUs and does not run on the CPU; "
                "use 'ddp' (gloo) or 'auto' with accelerator 'cpu'"
            )
    if train.auto_batch_size and (train.strategy != "auto" or train.devices not in (1, "auto")):
        raise ValueError(
            "batch_size 'auto' (Lightning's batch size finder) runs on one device only; "
            "find the batch size with devices: 1 and set it, or run `trainforge plan`"
        )
