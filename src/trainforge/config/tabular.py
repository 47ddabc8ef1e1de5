"""Tabular tasks: the model types that fit a table of features."""

from __future__ import annotations

# In the order the "does not fit task" error lists them.
TABULAR_MODELS = ("mlp", "linear", "logistic_regression", "random_forest", "hist_gradient_boosting")
# Fitted by scikit-learn, not by the training loop: no epochs, so no per-epoch validation loss.
SKLEARN_MODELS = frozenset({"logistic_regression", "random_forest", "hist_gradient_boosting"})
