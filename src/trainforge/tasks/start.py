"""Training from a package (`model.init_from`): its weights, labels and preprocessing.

New labels (class-incremental data) get new rows in the output layer; the rows of known labels
keep their trained weights, matched by label name.
"""

from __future__ import annotations

from typing import Any

from trainforge.config import ExperimentConfig
from trainforge.errors import ConfigError
from trainforge.tasks.family import LoadPackage


def load_start(cfg: ExperimentConfig, load_package: LoadPackage) -> Any:
    """The `Model` of `model.init_from`, checked to fit this config; None without one."""
    if cfg.model.init_from is None:
        return None
    old = load_package(cfg.model.init_from)
    problem = None
    if old.config.task != cfg.task:
        problem = f"it was trained for task {old.config.task!r}, this config is {cfg.task!r}"
    elif old.network is None:
        problem = f"its model ({old.config.model.type}) is a scikit-learn estimator"
    elif old.target.kind != "classification":
        problem = f"its target is {old.target.kind}; updates support single-label classification"
    elif old.config.model.finetune == "adapter":
        problem = "it holds bottleneck adapters; update a full, frozen or LoRA model"
    if problem is not None:
        raise ConfigError(
            f"cannot start from this package: {problem}",
            where=f"model.init_from ({cfg.model.init_from})",
            fix="Start from a classifier trained with a neural model (mlp, linear, transformer)",
        )
    return old


def copy_weights(network: Any, old: Any, labels: list[str]) -> None:
    """Load `old`'s weights into `network`; output rows follow the labels, by name."""
    import torch

    old_state = old.network.state_dict()
    old_labels = list(old.target.labels_)
    rows = {i: old_labels.index(label) for i, label in enumerate(labels) if label in old_labels}
    state = network.state_dict()
    for name, tensor in state.items():
        source = old_state.get(name)
        if source is not None and source.shape == tensor.shape:
            tensor.copy_(source)  # the output layer too when the labels did not change
        elif (
            source is not None
            and source.shape[1:] == tensor.shape[1:]
            and source.shape[0] == len(old_labels)
            and tensor.shape[0] == len(labels)
        ):
            with torch.no_grad():
                for new_row, old_row in rows.items():
                    tensor[new_row] = source[old_row]
        else:
            raise ConfigError(
                f"the network differs from the package's at {name!r} "
                f"({'absent there' if source is None else tuple(source.shape)} vs "
                f"{tuple(tensor.shape)})",
                where="model.init_from",
                fix="Keep the package's model settings (model.*) when updating it",
            )
    network.load_state_dict(state)
