"""`train.batch_size: auto`: Lightning's batch size finder, run once before training.

The finder doubles the batch size, running a few training steps at each size, until a step
runs out of memory, the batch holds the whole training set, or `MAX_BATCH_SIZE` is reached;
it then restores the weights it started from. The size found is written next to the
checkpoints, so a resumed run trains with the same batches instead of searching again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L

from trainforge.training.distributed import with_batch_size
from trainforge.training.precision import precision_plugins

# On the CPU nothing runs out of memory before the batch is the whole training set, which
# trains badly; past a thousand rows a larger batch rarely trains faster per example anyway.
MAX_BATCH_SIZE = 1024
STEPS_PER_TRIAL = 3
FOUND_FILE = "batch_size.json"


class _Rebatching(L.LightningDataModule):
    """The training loader at whatever `batch_size` the finder sets (it sets this attribute).

    The finder also reloads validation data (our module has a validation step), hence
    `val_dataloader`, empty when the run has no validation data.
    """

    def __init__(self, loader: Any, val_loader: Any, batch_size: int) -> None:
        super().__init__()
        self.loader, self.val_loader = loader, val_loader
        self.batch_size = batch_size

    def train_dataloader(self) -> Any:
        return with_batch_size(self.loader, self.batch_size)

    def val_dataloader(self) -> Any:
        return self.val_loader if self.val_loader is not None else []


def find_batch_size(module: Any, loaders: tuple[Any, Any], cfg: Any, checkpoint_dir: Path) -> int:
    """The largest batch size (a power of two times `cfg.batch_size`) that trains here.

    Args:
        module: the LightningModule (its weights are unchanged afterwards).
        loaders: the training loader (only its batch size changes) and the validation
            loader or None.
        cfg: the `train` config section (`batch_size` is where the search starts).
        checkpoint_dir: where the finder's temporary checkpoint and the result go.
    """
    found_file = checkpoint_dir / FOUND_FILE
    if found_file.is_file():  # a resumed run keeps its batches
        return int(json.loads(found_file.read_text(encoding="utf-8"))["batch_size"])
    from lightning.pytorch.tuner import Tuner

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    start = min(cfg.batch_size, MAX_BATCH_SIZE)
    trainer = L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        plugins=[*precision_plugins(cfg)],
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=checkpoint_dir,
    )
    found = Tuner(trainer).scale_batch_size(
        module,
        datamodule=_Rebatching(*loaders, start),
        mode="power",
        steps_per_trial=STEPS_PER_TRIAL,
        init_val=start,
        max_val=MAX_BATCH_SIZE,
    )
    batch_size = int(found or start)
    found_file.write_text(json.dumps({"batch_size": batch_size}) + "\n", encoding="utf-8")
    return batch_size
