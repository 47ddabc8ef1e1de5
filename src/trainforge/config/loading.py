"""Reading a config: YAML file or dict, `--set` overrides, validation errors with YAML lines."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from trainforge.config.experiment import ExperimentConfig
from trainforge.config.keys import model_in
from trainforge.errors import ConfigError, did_you_mean, format_choices


def load_config(
    source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    Args:
        source: a YAML file path, or a dict with the same content.
        overrides: "dotted.key=value" strings (values parsed as YAML), applied in order.

    Example:
        >>> load_config("exp.yaml", ["train.epochs=5"]).train.epochs
        5
    """
    raw, where, text = _read(source)
    for override in overrides:
        _apply_override(raw, override)
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, where, text) from None


def load_raw(
    source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """The config as written (a fresh dict, overrides applied), before defaults and validation.

    A search varies this, not the resolved config, so that defaults which depend on other keys
    (e.g. those of `model.finetune: frozen`) follow each trial's choices.
    """
    raw, _, _ = _read(source)
    for override in overrides:
        _apply_override(raw, override)
    return raw


def _read(source: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """(raw mapping, where it came from, its YAML text or None for a dict)."""
    if isinstance(source, dict):
        # A deep copy: overrides must not change the caller's nested dicts.
        return copy.deepcopy(source), "config", None
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            "config file not found",
            where=str(path),
            fix="Check the path; example configs are in the examples/ folder",
        )
    where = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"is not UTF-8 text ({exc.reason})",
            where=f"{where} line {bad_line}",
            fix="Re-save the config as UTF-8",
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            where=f"{where}{line}",
            fix="Fix the YAML syntax (indentation, ':' after keys, quotes)",
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping of sections (task, data, model, train), got {type(raw).__name__}",
            where=where,
            fix="Start from an example in the examples/ folder",
        )
    return raw, where, text


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"override {override!r} is not of the form key=value",
            where="--set",
            fix="Write it like --set train.epochs=5",
        )
    node = raw
    parts = key.strip().split(".")
    for depth, part in enumerate(parts[:-1]):
        if node.get(part) is None:  # absent, or an empty section such as a bare `train:`
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            section = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"cannot set {key!r}: {section!r} holds a value, not a section",
                where="--set",
                fix=f"Override the whole value instead, e.g. --set {section}=...",
            )
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"the value {value!r} of {key.strip()!r} is not valid YAML "
            f"({getattr(exc, 'problem', exc)})",
            where="--set",
            fix="Close brackets and quotes, e.g. --set model.hidden_sizes=[8,4] or "
            "--set name='my run'",
        ) from None


def _config_error(exc: ValidationError, where: str, text: str | None) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-after", "literal"))]
        line = _line_of(text, loc) if text and loc else None
        place = f"{where} line {line}" if line else where
        if loc:
            place += f", field '{'.'.join(loc)}'"
        if err["type"] == "extra_forbidden":
            siblings = _field_names(loc[:-1])
            hint = did_you_mean(loc[-1], siblings)
            lines.append(
                f"{place}: unknown key '{loc[-1]}'.{hint} "
                f"Allowed keys here: {format_choices(siblings, limit=30)}."
            )
        elif err["type"] == "missing":
            lines.append(f"{place}: required key is missing. Add it to the config.")
        else:
            received = err.get("input")
            msg = err["msg"].removeprefix("Value error, ").rstrip(".")
            hint = ""
            if err["type"] == "literal_error" and isinstance(received, str):
                expected = err.get("ctx", {}).get("expected", "")
                hint = did_you_mean(received, re.findall(r"'([^']*)'", expected))
            shown = "" if isinstance(received, dict) else f" Got {received!r}."
            msg = msg if msg.endswith(("?", ".")) else msg + "."
            lines.append(f"{place}: {msg}{shown}{hint}")
    head = "Invalid config" + (f" ({len(lines)} problems)" if len(lines) > 1 else "")
    return ConfigError(
        head + ":\n  " + "\n  ".join(lines),
        fix="\nRun `trainforge schema` to see every key and its allowed values",
    )


def _field_names(loc: list[str]) -> list[str]:
    """Names of the keys allowed under the config section at `loc`."""
    model: Any = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = model_in(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _line_of(text: str, loc: list[str]) -> int | None:
    """1-based line of the key at `loc` in the YAML text (the deepest one found)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line


def config_to_yaml(config: ExperimentConfig) -> str:
    """The resolved config (defaults filled in) as YAML, as saved with every run."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def json_schema() -> dict[str, Any]:
    """The JSON schema of the experiment config (`trainforge schema`)."""
    return ExperimentConfig.model_json_schema()
