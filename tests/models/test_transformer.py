"""Backbone resolution: embedded default, local folders, hub names offline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trainforge.errors import ConfigError
from trainforge.models import transformer


def test_minilm_resolves_to_the_embedded_package() -> None:
    path = Path(transformer.resolve_backbone("minilm"))
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_a_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a transformers model folder \(no config.json\)"):
        transformer.resolve_backbone(str(tmp_path))


def test_hub_name_offline_fails_fast_and_says_how_to_use_a_local_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transformer, "_hub_reachable", lambda timeout=3.0: False)
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"pass the local folder as model\.backbone"):
        transformer.resolve_backbone("someorg/no-such-model-anywhere")
    assert time.monotonic() - start < 5  # no minute of connection retries


def test_hub_offline_env_counts_as_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert transformer._hub_reachable() is False
