"""User-facing words in the user's language: one catalogue per language, looked up by key.

The language is `TRAINFORGE_LANG` (`en`, `zh`) when set, else the locale (`LC_ALL`,
`LC_MESSAGES`, `LANG`: `zh_CN.UTF-8` means Chinese), else English. Every catalogue holds the
same keys (a test checks it); a message is written once, in its catalogue, and code asks for
it with `text(key, **fields)`.

Example:
    >>> text("cli.error", message="train.csv: file not found.")  # LANG=zh_CN.UTF-8
    '错误：train.csv: file not found.'
"""

from __future__ import annotations

import os

from trainforge.messages import en, zh

CATALOGUES: dict[str, dict[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}


def language() -> str:
    """'zh' or 'en', from TRAINFORGE_LANG or the locale."""
    chosen = os.environ.get("TRAINFORGE_LANG", "").strip().lower()
    if not chosen:
        for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
            chosen = os.environ.get(variable, "").strip().lower()
            if chosen:
                break
    return "zh" if chosen.startswith("zh") else "en"


def text(key: str, **fields: object) -> str:
    """The message `key` in the user's language, with `fields` filled in."""
    catalogue = CATALOGUES[language()]
    return catalogue.get(key, en.MESSAGES[key]).format(**fields)


def html_lang() -> str:
    """The `lang` attribute of generated pages."""
    return "zh-CN" if language() == "zh" else "en"
