"""Customer-service assistant: an intent model answers from an FAQ, or hands off to a person.

    from trainforge.apps.assistant import Assistant
    assistant = Assistant.from_files("runs/intents/model", "faq.jsonl")
    assistant.ask("my card has not arrived").answer

Names load on first use, so `trainforge --help` imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Assistant": "assistant",
    "FaqWarning": "assistant",
    "Reply": "assistant",
    "choose_threshold": "assistant",
    "Faq": "faq",
    "FaqEntry": "faq",
    "read_faq": "faq",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
