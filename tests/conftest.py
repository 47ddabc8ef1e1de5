"""Shared by every test: messages in English whatever the machine's locale (the Chinese
catalogue has tests of its own that ask for it)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINFORGE_LANG", "en")
