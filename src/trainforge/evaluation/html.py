"""Building blocks of trainforge's self-contained HTML pages (run, tune and compare reports).

Every page is one file: CSS inline, images embedded as base64 ``data:`` URIs, no scripts and
no external URLs, so it can be moved, archived or e-mailed on its own.
"""

from __future__ import annotations

import base64
import html
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.messages import html_lang

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2328; background: #f6f8fa; line-height: 1.45; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { margin-top: 0; font-size: 1.7rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.2rem; }
h3 { margin-bottom: .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fbfcfd; }
figure { margin: .5rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figure.wide { overflow-x: auto; }
figure.wide img { max-width: none; }
figcaption { color: #59636e; font-size: .85rem; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .8rem; overflow-x: auto;
      font-size: .85rem; }
.muted { color: #59636e; font-size: .85rem; }
"""


def esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is also safe inside attributes)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """Format a value for a table cell: floats to 4 significant digits, the rest as text."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return f"{number:.4g}" if math.isfinite(number) else str(number)
    if isinstance(value, dict):
        # e.g. summary["rows"] = {"train": 800, "test": 200} -> "train: 800, test: 200"
        return ", ".join(f"{key}: {fmt(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt(item) for item in value)
    return str(value)


def image(path: Path, alt: str, *, wide: bool = False) -> str:
    """Embed the PNG at ``path`` as a base64 data URI inside a <figure>."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    css = ' class="wide"' if wide else ""
    return (
        f'<figure{css}><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
        f"<figcaption>{esc(alt)}</figcaption></figure>"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render an HTML table; every cell is escaped, numbers are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        first, *rest = row
        cells = [f"<th>{esc(first)}</th>"]
        for cell in rest:
            numeric = isinstance(cell, int | float | np.integer | np.floating)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{esc(fmt(cell))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def document(title: str, parts: Sequence[str]) -> str:
    """A whole HTML page: `title` in the head, `parts` (HTML snippets) in the body."""
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang()}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        "<body><main>\n" + "\n".join(parts) + "\n</main></body>\n</html>\n"
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it into place.

    A crash mid-write then leaves the previous report (or none), never half a file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates the file private (0600); a report is meant to be shared.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
