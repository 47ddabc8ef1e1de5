"""Classical scikit-learn estimators, behind the same config, evaluation and package.

Saved with skops (no pickle): on load, every type in the file must come from scikit-learn,
NumPy or SciPy, so a tampered package cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainforge.errors import ConfigError, PackageError

_ESTIMATORS = {
    ("logistic_regression", "classification"): ("sklearn.linear_model", "LogisticRegression"),
    ("random_forest", "classification"): ("sklearn.ensemble", "RandomForestClassifier"),
    ("random_forest", "regression"): ("sklearn.ensemble", "RandomForestRegressor"),
    ("hist_gradient_boosting", "classification"): (
        "sklearn.ensemble",
        "HistGradientBoostingClassifier",
    ),
    ("hist_gradient_boosting", "regression"): ("sklearn.ensemble", "HistGradientBoostingRegressor"),
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 2000},
    "random_forest": {"n_estimators": 300},
}
_SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def build_estimator(model_type: str, kind: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted estimator with `model.params` applied; bad parameters are a ConfigError."""
    import importlib

    module, name = _ESTIMATORS[(model_type, kind)]
    cls = getattr(importlib.import_module(module), name)
    estimator = cls()
    settings = {**_DEFAULTS.get(model_type, {}), **params}
    if "random_state" in estimator.get_params():
        settings.setdefault("random_state", seed)
    try:
        estimator.set_params(**settings)
        estimator._validate_params()  # scikit-learn's own checks, before any data is read
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            str(exc).splitlines()[0],
            where="model.params",
            fix=f"See the parameters of scikit-learn's {name}",
        ) from None
    return estimator


def save_estimator(estimator: Any, path: Path) -> None:
    import skops.io

    skops.io.dump(estimator, path)


def load_estimator(path: Path) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    unsafe = [t for t in untrusted if not t.startswith(_SAFE_PREFIXES)]
    if unsafe:
        raise PackageError(
            f"the estimator file holds types outside scikit-learn/NumPy/SciPy: {unsafe}",
            where=str(path),
            fix="Only load packages you trust; retrain the model with trainforge",
        )
    return skops.io.load(path, trusted=untrusted)
