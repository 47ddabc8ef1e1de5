"""Recommendation settings: defaults, and checks that span config sections.

The task's `TaskSpec` (config/tasks.py) names these hooks; the fields live in the config
sections (`data.user_column`, `data.items`, `model.embedding_dim`, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainforge.config.experiment import ExperimentConfig
    from trainforge.config.tasks import TaskSpec

RECOMMENDATION_FAMILY = "trainforge.tasks.recommendation"
RECOMMENDER_MODELS = ("recommender",)
# Keys of `data` that only a recommendation task reads.
RECOMMENDATION_DATA_FIELDS = (
    "user_column",
    "item_column",
    "rating_column",
    "time_column",
    "items",
    "item_features",
    "positive_threshold",
)
# Many small steps on (user, item, sampled negative) triples; the best epoch by validation loss.
RECOMMENDATION_TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 256,
    "lr": 5e-3,
    "weight_decay": 1e-4,
    "eval_batch_size": 512,
    "early_stopping": {"monitor": "val_loss", "patience": 3},
}


def recommendation_defaults(raw: dict[str, Any], spec: TaskSpec) -> dict[str, Any]:
    """Fill model and train defaults of a recommendation task where the user gave no value."""
    raw = dict(raw)
    model = dict(raw.get("model") or {})
    model.setdefault("type", spec.model_types[0])
    train = dict(raw.get("train") or {})
    for key, value in RECOMMENDATION_TRAIN_DEFAULTS.items():
        train.setdefault(key, value)
    raw["model"], raw["train"] = model, train
    return raw


def check_recommendation_settings(cfg: ExperimentConfig) -> None:
    """Raise ValueError for settings that do not fit the task (recommendation keys elsewhere,
    label settings on a recommender, split files the per-user split cannot use)."""
    data = cfg.data
    fields = type(data).model_fields
    changed = [
        name
        for name in RECOMMENDATION_DATA_FIELDS
        if getattr(data, name) != fields[name].get_default(call_default_factory=True)
    ]
    if cfg.spec.family != RECOMMENDATION_FAMILY:
        if changed:
            keys = ", ".join(f"data.{name}" for name in changed)
            raise ValueError(
                f"{keys} {'does' if len(changed) == 1 else 'do'} not apply to task "
                f"{cfg.task!r} (recommendation settings); remove "
                f"{'it' if len(changed) == 1 else 'them'}"
            )
        return
    if data.validation is not None or data.test is not None:
        raise ValueError(
            "data.validation and data.test do not apply to task 'recommendation': the "
            "interactions in data.train are split per user (the last ones by data.time_column, "
            "else a seeded hold-out); remove them and set data.split.validation/test instead"
        )
    columns = [data.user_column, data.item_column, data.rating_column, data.time_column]
    named = [c for c in columns if c is not None]
    if len(set(named)) != len(named):
        raise ValueError(
            "data.user_column, data.item_column, data.rating_column and data.time_column must "
            f"name different columns; got {named}"
        )
    if data.positive_threshold is not None and data.rating_column is None:
        raise ValueError(
            "data.positive_threshold needs data.rating_column (without ratings every "
            "interaction counts as relevant); set data.rating_column or remove the threshold"
        )
    if cfg.model.init_from is not None:
        raise ValueError(
            "model.init_from (trainforge update) does not apply to task 'recommendation' yet; "
            "train a new model on all the interactions instead"
        )
    if data.item_features is not None and data.items is None:
        raise ValueError(
            "data.item_features names columns of the item file; set data.items to that file"
        )
