"""The experiment config: loading, overrides, round trip, and errors that name the place and fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from trainforge.config import (
    ExperimentConfig,
    config_to_yaml,
    json_schema,
    load_config,
    monitorable_metrics,
)
from trainforge.errors import ConfigError
from trainforge.tasks.registry import family_of

MINIMAL = {"task": "tabular_classification", "data": {"train": "train.csv"}}

EXPERIMENT_YAML = """\
task: tabular_classification
name: churn
data:
  train: train.csv
  label_column: churned
model:
  type: mlp
  hidden_sizes: [16, 8]
train:
  epochs: 10
  optimizer: sgd
  lr: 0.01
"""


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), overrides)
    return info.value.message


# --- loading ---------------------------------------------------------------------------------


def test_load_from_yaml_file_keeps_values_and_fills_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, EXPERIMENT_YAML))

    assert isinstance(config, ExperimentConfig)
    assert config.name == "churn"
    assert config.data.train == "train.csv"
    assert config.data.label_column == "churned"
    assert config.model.hidden_sizes == [16, 8]
    assert (config.train.epochs, config.train.optimizer, config.train.lr) == (10, "sgd", 0.01)
    # Defaults for what the file leaves out.
    assert config.data.encoding == "utf-8"
    assert config.data.split.validation == 0.1 and config.data.split.test == 0.2
    assert config.train.batch_size == 32
    assert config.train.early_stopping is not None
    assert config.train.early_stopping.monitor == "val_loss"


def test_load_from_dict_matches_the_same_yaml(tmp_path: Path) -> None:
    import yaml

    from_file = load_config(_write(tmp_path, EXPERIMENT_YAML))
    from_dict = load_config(yaml.safe_load(EXPERIMENT_YAML))
    assert from_dict == from_file


def test_loss_auto_resolves_per_task() -> None:
    classification = load_config(MINIMAL)
    regression = load_config({**MINIMAL, "task": "tabular_regression"})
    assert classification.loss == "cross_entropy" and classification.is_classification
    assert regression.loss == "mse" and not regression.is_classification


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [("val_loss", "min"), ("val_accuracy", "max"), ("val_f1_macro", "max"), ("train_loss", "min")],
)
def test_early_stopping_auto_mode_follows_the_metric(monitor: str, mode: str) -> None:
    config = load_config(MINIMAL, [f"train.early_stopping.monitor={monitor}"])
    assert config.train.early_stopping is not None
    assert config.train.early_stopping.resolved_mode == mode


# --- overrides ---------------------------------------------------------------------------------


def test_overrides_parse_values_as_yaml(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, EXPERIMENT_YAML),
        [
            "train.epochs=5",
            "model.hidden_sizes=[8,4]",
            "train.lr=1e-2",
            "data.split.stratify=false",
        ],
    )
    assert config.train.epochs == 5
    assert config.model.hidden_sizes == [8, 4]
    assert config.train.lr == 0.01
    assert config.data.split.stratify is False


def test_overrides_create_sections_the_file_does_not_have(tmp_path: Path) -> None:
    path = _write(tmp_path, "task: tabular_classification\ndata:\n  train: train.csv\n")
    config = load_config(path, ["train.early_stopping.patience=3", "model.type=linear"])
    assert config.train.early_stopping is not None
    assert config.train.early_stopping.patience == 3
    assert config.model.type == "linear"


def test_overrides_apply_in_order_and_an_empty_value_means_none() -> None:
    config = load_config(MINIMAL, ["train.epochs=5", "train.epochs=7", "train.early_stopping="])
    assert config.train.epochs == 7
    assert config.train.early_stopping is None


def test_override_fills_a_bare_section(tmp_path: Path) -> None:
    # `train:` with everything below it commented out is None in YAML; --set still works.
    path = _write(tmp_path, "task: tabular_classification\ndata:\n  train: a.csv\ntrain:\n")
    assert load_config(path, ["train.epochs=3"]).train.epochs == 3


def test_overrides_leave_the_callers_dict_unchanged() -> None:
    raw = {"task": "tabular_classification", "data": {"train": "a.csv"}, "train": {"epochs": 3}}
    load_config(raw, ["train.epochs=5", "data.label_column=y"])
    assert raw == {
        "task": "tabular_classification",
        "data": {"train": "a.csv"},
        "train": {"epochs": 3},
    }


@pytest.mark.parametrize("override", ["train.epochs", "=5", " =5"])
def test_override_without_key_and_value_is_refused(override: str) -> None:
    with pytest.raises(ConfigError, match=r"^--set: override .* is not of the form key=value"):
        load_config(MINIMAL, [override])


def test_override_below_a_value_names_the_value_to_override() -> None:
    with pytest.raises(
        ConfigError,
        match=r"cannot set 'data\.train\.x': 'data\.train' holds a value, not a section\. "
        r"Override the whole value instead, e\.g\. --set data\.train=\.\.\.",
    ):
        load_config(MINIMAL, ["data.train.x=1"])


def test_override_with_broken_yaml_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^--set: the value '\[8,4' of 'model\.hidden_sizes' is not valid YAML",
    ):
        load_config(MINIMAL, ["model.hidden_sizes=[8,4"])


def test_override_with_a_bad_value_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"field 'train\.epochs': .*Got 0\."):
        load_config(MINIMAL, ["train.epochs=0"])


# --- round trip and immutability -----------------------------------------------------------------


def test_resolved_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = load_config(
        _write(tmp_path, EXPERIMENT_YAML), ["train.early_stopping.monitor=val_accuracy"]
    )
    text = config_to_yaml(config)
    again = load_config(_write(tmp_path, text, "resolved.yaml"))

    assert again == config
    assert config_to_yaml(again) == text
    # Resolved means every section and default is written out.
    for key in ("task:", "data:", "model:", "train:", "split:", "batch_size: 32"):
        assert key in text


def test_round_trip_keeps_disabled_early_stopping(tmp_path: Path) -> None:
    config = load_config(MINIMAL, ["train.early_stopping=null"])
    again = load_config(_write(tmp_path, config_to_yaml(config)))
    assert again.train.early_stopping is None


def test_config_is_frozen() -> None:
    config = load_config(MINIMAL)
    with pytest.raises(ValidationError, match="frozen"):
        config.train.epochs = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.task = "tabular_regression"  # type: ignore[misc]


# --- errors --------------------------------------------------------------------------------------


def test_unknown_key_names_key_line_and_closest_name(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path, "task: tabular_classification\ndata:\n  train: a.csv\n  lable_column: y\n"
    )
    assert re.search(
        r"exp\.yaml line 4, field 'data\.lable_column': unknown key 'lable_column'\. "
        r"Did you mean 'label_column'\?",
        message,
    )
    assert "Allowed keys here: 'train', 'validation', 'test', 'label_column'" in message
    assert message.endswith("Run `trainforge schema` to see every key and its allowed values.")


def test_unknown_top_level_key_lists_the_sections(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path, "task: tabular_classification\ndata: {train: a.csv}\nmodle: {}\n"
    )
    assert "line 3, field 'modle': unknown key 'modle'. Did you mean 'model'?" in message
    sections = (
        "'task', 'name', 'data', 'model', 'train', 'track', 'continual', 'generation', 'tune'"
    )
    assert f"Allowed keys here: {sections}." in message


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path,
        "task: tabular_classification\ndata:\n  train: a.csv\ntrain:\n  optimizer: adamx\n",
    )
    assert (
        "exp.yaml line 5, field 'train.optimizer': Input should be 'sgd', 'adam', 'adamw' or "
        "'rmsprop'. Got 'adamx'. Did you mean 'adam'?"
    ) in message


def test_wrong_type_names_field_and_value(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path, 'task: tabular_classification\ndata:\n  train: a.csv\ntrain:\n  epochs: "many"\n'
    )
    assert re.search(
        r"line 5, field 'train\.epochs': Input should be a valid integer.*Got 'many'\.", message
    )


def test_out_of_range_names_the_bound(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path, "task: tabular_classification\ndata:\n  train: a.csv\ntrain:\n  lr: -1\n"
    )
    assert "line 5, field 'train.lr': Input should be greater than 0. Got -1." in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = _config_error(tmp_path, "task: tabular_classification\ndata:\n  label_column: y\n")
    assert "field 'data.train': required key is missing. Add it to the config." in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _config_error(
        tmp_path,
        "task: tabular_classification\ndata:\n  train: a.csv\ntrain:\n  epochs: 0\n  lr: 0\n",
    )
    assert message.startswith("Invalid config (2 problems):")
    assert "field 'train.epochs'" in message and "field 'train.lr'" in message


def test_messages_have_no_trailing_blanks(tmp_path: Path) -> None:
    message = _config_error(tmp_path, "task: tabular_classification\ndata: {train: a.csv}\nx: 1\n")
    assert all(line == line.rstrip() for line in message.splitlines())


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"exp\.yaml line 4: not valid YAML .*Fix the YAML syntax"
    ):
        load_config(_write(tmp_path, "task: tabular_classification\ndata:\n  train: [a.csv\n"))


def test_config_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected a mapping of sections .*got list"):
        load_config(_write(tmp_path, "- task\n- data\n"))


def test_config_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(
        "task: tabular_classification\ndata:\n  label_column: café\n".encode("latin-1")
    )
    with pytest.raises(
        ConfigError, match=r"latin\.yaml line 3: is not UTF-8 text .*Re-save the config as UTF-8"
    ):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found\. Check the path"):
        load_config(tmp_path / "nope.yaml")


def test_loss_must_fit_the_task() -> None:
    with pytest.raises(
        ConfigError,
        match=r"train\.loss 'cross_entropy' does not fit task 'tabular_regression'; "
        r"use one of 'huber', 'mae', 'mse' or 'auto'\.",
    ):
        load_config({**MINIMAL, "task": "tabular_regression"}, ["train.loss=cross_entropy"])
    with pytest.raises(ConfigError, match=r"train\.loss 'mse' does not fit task"):
        load_config(MINIMAL, ["train.loss=mse"])


def test_classifier_model_for_regression_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.type 'logistic_regression' is a classifier"):
        load_config({**MINIMAL, "task": "tabular_regression"}, ["model.type=logistic_regression"])


def test_early_stopping_monitor_must_be_logged() -> None:
    with pytest.raises(
        ConfigError,
        match=r"train\.early_stopping\.monitor 'val_acc' is not a logged metric; use one of "
        r"'val_loss', 'val_accuracy', 'val_f1_macro', 'train_loss'\. "
        r"Did you mean 'val_accuracy'\?",
    ):
        load_config(MINIMAL, ["train.early_stopping.monitor=val_acc"])


def test_regression_monitors_regression_metrics() -> None:
    assert "val_rmse" in monitorable_metrics("tabular_regression")
    with pytest.raises(ConfigError, match=r"'val_accuracy' is not a logged metric"):
        load_config(
            {**MINIMAL, "task": "tabular_regression"}, ["train.early_stopping.monitor=val_accuracy"]
        )


def test_split_fractions_must_leave_training_rows() -> None:
    with pytest.raises(
        ConfigError, match=r"validation \(0\.5\) \+ test \(0\.4\) must be below 0\.9"
    ):
        load_config(MINIMAL, ["data.split.validation=0.5", "data.split.test=0.4"])


def test_json_schema_describes_every_section() -> None:
    schema = json_schema()
    sections = {
        "task",
        "name",
        "data",
        "model",
        "train",
        "track",
        "continual",
        "generation",
        "tune",
    }
    assert set(schema["properties"]) == sections
    assert set(schema["required"]) == {"task", "data"}
    assert {
        "DataConfig",
        "ModelConfig",
        "TrainConfig",
        "SplitConfig",
        "EarlyStoppingConfig",
        "TrackConfig",
        "TuneConfig",
        "SearchParam",
    } <= set(schema["$defs"])
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["optimizer"]["enum"] == ["sgd", "adam", "adamw", "rmsprop"]
    assert train["lr"]["exclusiveMinimum"] == 0.0
    assert schema["$defs"]["DataConfig"]["additionalProperties"] is False


def test_multi_label_is_refused_for_tabular_tasks() -> None:
    with pytest.raises(ConfigError, match=r"data\.multi_label is for text tasks"):
        load_config(
            {
                "task": "tabular_classification",
                "data": {"train": "x.csv", "multi_label": True},
            }
        )


def test_adapter_only_needs_a_peft_method() -> None:
    with pytest.raises(ConfigError, match=r"adapter_only .*needs model\.finetune lora"):
        load_config(
            {
                "task": "text_classification",
                "data": {"train": "x.csv"},
                "model": {"finetune": "full", "peft": {"adapter_only": True}},
            }
        )


def test_text_tasks_get_transformer_defaults() -> None:
    cfg = load_config({"task": "text_classification", "data": {"train": "x.csv"}})
    assert cfg.model.type == "transformer" and cfg.train.lr == 5e-5
    assert cfg.pooling == "cls"
    frozen = load_config(
        {"task": "text_classification", "data": {"train": "x.csv"}, "model": {"finetune": "frozen"}}
    )
    assert frozen.pooling == "mean"
    assert frozen.train.lr == 1e-3 and frozen.train.epochs == 100


def _token_config(**sections: dict) -> dict:
    config: dict = {"task": "token_classification", "data": {"train": "train.txt"}}
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def test_token_classification_defaults_watch_entity_f1() -> None:
    cfg = load_config(_token_config())
    assert cfg.model.type == "transformer" and cfg.spec.target == "tagging" and cfg.spec.text
    assert family_of(cfg).input_kind == "token"
    assert cfg.train.early_stopping is not None
    assert cfg.train.early_stopping.monitor == "val_f1"
    assert cfg.train.early_stopping.resolved_mode == "max"
    assert cfg.train.window_stride == 32
    assert load_config(_token_config(train={"max_length": 64})).train.window_stride == 16
    frozen = load_config(_token_config(model={"finetune": "frozen"}))
    assert frozen.train.batch_size == 256 and frozen.train.lr == 1e-3


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"data": {"text_pair_column": "b"}}, "data.text_pair_column does not apply"),
        ({"data": {"multi_label": True}}, "data.multi_label does not apply"),
        ({"train": {"loss": "bce"}}, "train.loss does not apply"),
        ({"train": {"max_length": 32, "stride": 20}}, "must be at most half of train.max_length"),
        ({"data": {"tag_scheme": "bilou"}}, "Did you mean 'bioes'?"),
        ({"train": {"early_stopping": {"monitor": "val_accuracy_macro"}}}, "'val_f1'"),
    ],
)
def test_token_classification_config_errors(sections: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_token_config(**sections))


@pytest.mark.parametrize(
    "example",
    sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml")),
    ids=lambda path: path.stem,
)
def test_every_example_config_is_valid(example: Path) -> None:
    cfg = load_config(example)
    assert cfg.data.train
