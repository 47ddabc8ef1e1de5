"""Evaluation stage: metrics, plots and the self-contained HTML report.

Importing this package is cheap: matplotlib and scikit-learn are imported only when a
function that needs them runs.
"""

from trainforge.evaluation.metrics import classification_metrics, regression_metrics
from trainforge.evaluation.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_regression,
    plot_roc,
)
from trainforge.evaluation.report import SplitResult, write_report

__all__ = [
    "SplitResult",
    "classification_metrics",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_regression",
    "plot_roc",
    "regression_metrics",
    "write_report",
]
