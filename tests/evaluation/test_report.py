"""The HTML report is self-contained, escaped, complete, and written atomically."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from trainforge.evaluation import (
    SplitResult,
    classification_metrics,
    regression_metrics,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HISTORY = [
    {"epoch": 0, "train_loss": 0.9, "val_loss": 0.8, "val_accuracy": 0.6, "val_f1_macro": 0.5},
    {"epoch": 1, "train_loss": 0.6, "val_loss": float("nan"), "val_accuracy": 0.7},
    {"epoch": 2, "train_loss": 0.4, "val_loss": 0.5, "val_accuracy": 0.8, "val_f1_macro": 0.7},
]


def _classification_split(name: str, k: int, n: int, seed: int) -> SplitResult:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k  # every class present
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = [f"c{i}" for i in range(k)]
    return SplitResult(name, classification_metrics(y, proba, labels), y, proba)


def _write(tmp_path: Path, **overrides: object) -> Path:
    arguments: dict[str, object] = {
        "title": "Run",
        "kind": "classification",
        "labels": ["neg", "pos"],
        "splits": [],
        "history": HISTORY,
        "summary": {"task": "text_classification"},
        "config_yaml": "task: text_classification\n",
    }
    arguments.update(overrides)
    return write_report(tmp_path / "run", **arguments)  # type: ignore[arg-type]


def _embedded_pngs(document: str) -> list[bytes]:
    encoded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)
    return [base64.b64decode(data) for data in encoded]


def _assert_self_contained(document: str) -> None:
    assert "http://" not in document and "https://" not in document
    assert "<script" not in document.lower()
    assert "<link" not in document.lower()


def test_binary_report_escapes_labels_and_embeds_plots(tmp_path: Path) -> None:
    labels = ["neg", "<b>&x"]
    y = np.array([0, 0, 1, 1, 0, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    proba = np.column_stack([1 - p1, p1])
    metrics = classification_metrics(y, proba, labels)
    config = "labels: ['<b>&x']\nnote: a < b && c\n"

    path = _write(
        tmp_path,
        title="Sentiment <v1>",
        labels=labels,
        splits=[SplitResult("test", metrics, y, proba)],
        summary={
            "task": "classification",
            "train_time_s": 12.3456789,
            "rows": {"train": 800, "test": 6},
        },
        config_yaml=config,
    )

    assert path == tmp_path / "run" / "report.html"
    document = path.read_text(encoding="utf-8")
    _assert_self_contained(document)
    # Labels, title and config arrive escaped, never as live markup.
    assert "&lt;b&gt;&amp;x" in document
    assert "<b>&x" not in document
    assert "<title>Sentiment &lt;v1&gt;</title>" in document
    assert (
        "<pre>labels: [&#x27;&lt;b&gt;&amp;x&#x27;]\nnote: a &lt; b &amp;&amp; c\n</pre>"
        in document
    )
    # Metric values and summary floats appear at 4 significant digits.
    assert f"{metrics['accuracy']:.4g}" in document
    assert f"{metrics['roc_auc']:.4g}" in document
    assert f"{metrics['f1_macro']:.4g}" in document
    assert "<td>12.35</td>" not in document and '<td class="num">12.35</td>' in document
    assert "train: 800, test: 6" in document
    # Per-class table for the (last) split; non-scalar metrics stay out of the metrics table.
    assert "Per-class scores (test)" in document
    assert "<th>confusion_matrix</th>" not in document
    # Images: learning curves + confusion matrix + ROC, embedded and on disk.
    pngs = _embedded_pngs(document)
    assert len(pngs) == 3 and all(png.startswith(PNG_MAGIC) for png in pngs)
    plots = tmp_path / "run" / "plots"
    for name in ("learning_curves.png", "confusion_matrix_test.png", "roc_test.png"):
        assert (plots / name).read_bytes().startswith(PNG_MAGIC)
    assert path.stat().st_mode & 0o444 == 0o444  # readable by others, unlike a raw mkstemp file
    # The atomic write leaves no temp file behind.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["plots", "report.html"]


def test_multiclass_report_has_one_column_per_split(tmp_path: Path) -> None:
    validation = _classification_split("validation", k=4, n=40, seed=0)
    test = _classification_split("test", k=4, n=60, seed=1)

    path = _write(tmp_path, labels=["c0", "c1", "c2", "c3"], splits=[validation, test])

    document = path.read_text(encoding="utf-8")
    assert "<th>metric</th><th>validation</th><th>test</th>" in document
    row = re.search(r"<tr><th>accuracy</th>(.*?)</tr>", document)
    assert row is not None
    assert f"{validation.metrics['accuracy']:.4g}" in row.group(1)
    assert f"{test.metrics['accuracy']:.4g}" in row.group(1)
    assert '<tr><th>n_samples</th><td class="num">40</td><td class="num">60</td></tr>' in document
    assert "Per-class scores (test)" in document
    plots = tmp_path / "run" / "plots"
    for split in ("validation", "test"):
        assert (plots / f"confusion_matrix_{split}.png").is_file()
        assert (plots / f"roc_{split}.png").is_file()
    assert len(_embedded_pngs(document)) == 1 + 2 * 2


def test_single_class_split_reports_without_roc(tmp_path: Path) -> None:
    y = np.zeros(4, dtype=int)
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    split = SplitResult("test", classification_metrics(y, proba, ["a", "b"]), y, proba)

    document = _write(tmp_path, labels=["a", "b"], splits=[split]).read_text(encoding="utf-8")

    assert "ROC curve undefined" in document
    assert "<th>roc_auc</th>" not in document
    assert not (tmp_path / "run" / "plots" / "roc_test.png").exists()
    assert (tmp_path / "run" / "plots" / "confusion_matrix_test.png").is_file()


def test_regression_report_with_empty_history(tmp_path: Path) -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([2.0, 2.0, 3.0, 6.0])
    metrics = regression_metrics(y, pred)

    path = _write(
        tmp_path,
        kind="regression",
        labels=None,
        splits=[SplitResult("test", metrics, y, pred)],
        history=[],
        summary={"task": "tabular_regression", "samples_per_second": 123456.789},
    )

    document = path.read_text(encoding="utf-8")
    _assert_self_contained(document)
    assert '<tr><th>rmse</th><td class="num">1.118</td></tr>' in document
    assert '<tr><th>mse</th><td class="num">1.25</td></tr>' in document
    assert "1.235e+05" in document
    assert "Learning curves" not in document
    assert "Per-class" not in document
    plots = tmp_path / "run" / "plots"
    assert not (plots / "learning_curves.png").exists()
    assert (plots / "regression_test.png").read_bytes().startswith(PNG_MAGIC)
    assert len(_embedded_pngs(document)) == 1


def test_rewriting_replaces_the_report(tmp_path: Path) -> None:
    _write(tmp_path, title="first", history=[])
    path = _write(tmp_path, title="second", history=[])
    document = path.read_text(encoding="utf-8")
    assert "<h1>second</h1>" in document and "first" not in document


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"kind": "ranking"}, "'kind' must be one of \\('classification'"),
        ({"labels": None}, "'labels' must list the class names"),
    ],
)
def test_write_report_rejects_bad_arguments(
    tmp_path: Path, overrides: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        _write(tmp_path, **overrides)


def test_duplicate_split_names_are_rejected(tmp_path: Path) -> None:
    split = _classification_split("test", k=2, n=10, seed=0)
    with pytest.raises(ValueError, match="split names must be distinct"):
        _write(tmp_path, labels=["c0", "c1"], splits=[split, split])
