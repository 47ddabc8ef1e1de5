"""The generation report's own section: a handful of test conversations with the reference
answer (with DPO, the chosen and the rejected one) and the generated one, side by side (what a
reader checks before any score)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_SHOWN = 8  # conversations shown
MAX_CHARS = 300  # of each text shown


def sample_sections(
    prompts: Callable[[str], list[Any]],
    results: list[Any],
    starting: list[str] | None = None,
    rejected: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """A table of sample generations of the generated split (the test split).

    Args:
        prompts: split name -> the turns each of its rows asks, in the split's order.
        results: the evaluated splits (`trainforge.evaluation.SplitResult`); rows whose
            output holds a "generated" answer are shown.
        starting: the answers of the model before training to the first rows, if known.
        rejected: preference rows (DPO): split name -> the rejected answers; the references
            are then the chosen ones.
    """
    from trainforge.evaluation.html import esc, table

    result = next((r for r in results if any(o["generated"] is not None for o in r.output)), None)
    if result is None:
        return []
    asked = prompts(result.name)
    before = list(starting or [])
    worse = rejected(result.name) if rejected is not None else []
    rows = [
        [
            i + 1,
            _shown(asked[i]),
            _shorten(result.y_true[i]),
            *([_shorten(worse[i])] if rejected is not None else []),
            *([_shorten(before[i])] if before else []),
            _shorten(output["generated"]),
        ]
        for i, output in enumerate(result.output[: len(before) or MAX_SHOWN])
    ]
    answers = ["chosen", "rejected"] if rejected is not None else ["reference"]
    headers = ["#", "prompt", *answers, *(["starting model"] if before else []), "tuned"]
    given = "chosen and rejected answers" if rejected is not None else "reference answer"
    return [
        f"<h2>Sample generations ({esc(result.name)})</h2>",
        '<p class="muted">The prompt (the last user turn; earlier turns omitted), the '
        + given
        + (", the answer of the model before training" if before else "")
        + " and the tuned model's answer.</p>",
        table(headers, rows),
    ]


def _shown(turns: list[dict[str, str]]) -> str:
    earlier = len(turns) - 1
    last = _shorten(turns[-1]["content"])
    return f"[{earlier} earlier turn(s)] {last}" if earlier else last


def _shorten(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
