"""Dotted config keys ("train.lr"): setting one in a raw config, and whether one can be searched.

Imports no other config module, so that loading, the tune section and the experiment can all
use it without importing one another.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from trainforge.errors import did_you_mean, format_choices

# Keys a search must not change: they define the experiment rather than tune it.
FIXED_KEYS = ("task", "name", "tune", "track", "data.train", "data.validation", "data.test")


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` of a raw config dict, creating sections on the way."""
    node = raw
    *sections, last = key.split(".")
    for part in sections:
        if not isinstance(node.get(part), dict):
            node[part] = {}  # absent, or switched off (None), e.g. train.early_stopping
        node = node[part]
    node[last] = value


def key_error(key: str, root: type[BaseModel]) -> str | None:
    """Why the dotted `key` cannot be searched in a config of type `root`; None when it can."""
    if key in FIXED_KEYS or key.startswith(("tune.", "track.")):
        return f"{key!r} defines the experiment and cannot be searched"
    parts = key.split(".")
    model: type[BaseModel] | None = root
    annotation: Any = None
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if model is None and typing.get_origin(annotation) is dict:
            return None  # a free mapping, e.g. model.params of scikit-learn estimators
        if model is None:
            return f"unknown config key {key!r}: {where!r} holds a value, not a section"
        names = list(model.model_fields)
        if part not in names:
            return (
                f"unknown config key {key!r}: {where} has no key {part!r}."
                f"{did_you_mean(part, names)} Keys there: {format_choices(names, limit=30)}"
            )
        annotation = model.model_fields[part].annotation
        model = model_in(annotation)
    if model is not None:
        first = next(iter(model.model_fields))
        return f"{key!r} is a whole section; name one of its keys, e.g. '{key}.{first}'"
    return None


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The config section (pydantic model) a field holds, also inside `X | None`; else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = model_in(arg)
            if found is not None:
                return found
    return None
