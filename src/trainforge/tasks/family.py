"""The contract every task family implements, and what its `prepare` hands the pipeline.

A task family (tabular, text, token, image, recommendation, text regression, ...) is one folder
under `tasks/` whose `__init__.py` defines `FAMILY`, an instance of a `TaskFamily` subclass; the
config's task registry (`trainforge.config.tasks.TASKS`) names that folder for each task it
serves. The pipeline, the loader, the exporter, the server, the planner and `update` ask the
family (`trainforge.tasks.registry.family_of(config)`) and never which family they hold.

What a family provides:

    config           its TaskSpec in `config/tasks.py`: defaults, checks, metrics, model types
    prepare          data read and checked, target fitted, model built -> `Prepared` (below)
    load             a package folder -> a `Model` (PyTorch or ONNX Runtime)
    input_kind       what one input of `serve` is; `input_schema` and `warmup_input` for it
    check_exportable raises where the package has no ONNX graph; `sample_batches` and
                     `fallback_samples` feed the export's parity check
    check_updatable  raises where `trainforge update` does not apply
    plan_network     the network as training builds it and a probe batch (`trainforge plan`)
    preview          a few examples as training reads them (`trainforge preview`)
    report sections  `Prepared.report_sections`; `describe` names the model in the report

Hooks with a body here are the tabular behaviour, which most families share; a family overrides
what differs. `tests/tasks/test_contract.py` runs every registered family through one suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trainforge.training.options import FitOptions, Fitted

if TYPE_CHECKING:
    from trainforge.config import ExperimentConfig
    from trainforge.tasks.model import Model
    from trainforge.tasks.preview import Preview
    from trainforge.tasks.targets import Target

__all__ = [
    "PROBE_ROWS",
    "FitOptions",
    "Fitted",
    "InputKind",
    "LoadPackage",
    "Prepared",
    "TaskFamily",
    "assumed_labels",
]

InputKind = Literal["text", "token", "tabular", "image", "recommendation"]
# Loads a model package by path (the pipeline injects `trainforge.predict.load`): families start
# from a package for `model.init_from` without importing the loader that dispatches to them.
LoadPackage = Callable[[str], "Model"]
PROBE_ROWS = 2  # rows of the probe batch that `plan_network` builds
ASSUMED_LABELS = 2  # classes a plan sizes the head for when model.labels does not say


@dataclass
class Prepared:
    """A task's data, checked and encoded, with a model ready to fit.

    Everything here is built before the run folder exists, so bad input leaves nothing.

    Attributes:
        model: the `trainforge.predict.Model` to fit (untrained).
        rows: rows per split, e.g. {"train": 800, "validation": 100, "test": 100}.
        fit: trains the model in place: fit(run_dir, FitOptions(...)) -> Fitted.
        evaluate: (y_true, output) of a split with the trained model.
        manifest: task-specific entries of the package manifest.
        write_files: writes the package's weights and input files into a folder.
        select_rows: (split, row indices) -> those rows with only the columns the config uses
            (label values as in the data); None where the task keeps no memory for updates.
        labels: encoded labels per split (for class-balanced samples).
        report_sections: (plots folder, evaluated splits) -> extra HTML sections of the
            report (the image task's grid of misclassified images); None for none.
        config: the config as it runs, where prepare settled an 'auto' value by the data
            (`model.backbone: auto`); None when it is the config given.
    """

    model: Any
    rows: dict[str, int]
    fit: Callable[..., Fitted]
    evaluate: Callable[[str], tuple[np.ndarray, np.ndarray]]
    manifest: dict[str, Any]
    write_files: Callable[[Path], None]
    select_rows: Callable[[str, np.ndarray], Any] | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    report_sections: Callable[[Path, list[Any]], list[str]] | None = None
    config: Any = None


class TaskFamily:
    """One task family; see the module docstring for what each hook is for.

    Attributes:
        name: the family's folder name under `tasks/`.
        input_kind: what one input of `serve` is (the predict route checks requests by it).
    """

    name: str = ""
    input_kind: InputKind = "tabular"

    def prepare(self, cfg: ExperimentConfig, load_package: LoadPackage) -> Prepared:
        """Read and check the data, fit the target and the preprocessing, build the model.

        Nothing is written: a bad input raises before the run folder exists.
        """
        raise NotImplementedError(f"task family {self.name!r} has no prepare")

    def load(
        self,
        path: Path,
        cfg: ExperimentConfig,
        manifest: dict[str, Any],
        target: Target,
        onnx: bool | str = False,
    ) -> Model:
        """The `Model` of a package folder; with `onnx`, its network runs in ONNX Runtime
        (True: int8 when exported, else fp32; or "fp32" / "int8")."""
        raise NotImplementedError(f"task family {self.name!r} has no load")

    def describe(self, cfg: ExperimentConfig) -> str:
        """The model as the report's summary names it."""
        return cfg.model.type

    def check_exportable(self, path: Path, cfg: ExperimentConfig) -> None:
        """Raise a PackageError where this package has no network ONNX can run."""

    def onnx_network(self, path: Path, cfg: ExperimentConfig, onnx: bool | str) -> Any:
        """The package's exported graph in ONNX Runtime, called like the torch network
        (True: int8 when exported, else fp32); `check_exportable` first."""
        from trainforge.models.onnx_network import load_onnx_network

        self.check_exportable(path, cfg)
        return load_onnx_network(path, None if onnx is True else onnx)  # type: ignore[arg-type]

    def check_updatable(self, model: Model, model_dir: Path) -> None:
        """Raise a PackageError where `trainforge update` cannot add a version to this model."""

    def sample_batches(self, model: Model, frame: Any) -> list[dict[str, Any]]:
        """Network inputs for the export and its parity check: a batch of one row first, then
        batches of up to 16 rows (of varying sequence length, where inputs have one)."""
        first = [batch for _, batch in model.input_batches(_head(frame, 1), 1)]
        return first + [batch for _, batch in model.input_batches(frame, 16)]

    def fallback_samples(self, model: Model) -> Any:
        """Sample inputs when none of the config's data files can be read here; None for none."""
        return None

    def input_schema(self, model: Model) -> dict[str, Any]:
        """JSON schema of one input of `POST /v1/predict` (shown by GET /v1/metadata)."""
        raise NotImplementedError(f"task family {self.name!r} has no input schema")

    def warmup_input(self, model: Model) -> Any:
        """One valid input, predicted once at load so that the first request is not the slow
        one."""
        raise NotImplementedError(f"task family {self.name!r} has no warm-up input")

    def plan_network(
        self, cfg: ExperimentConfig, notes: list[str]
    ) -> tuple[Any, dict[str, Any], str]:
        """(network as training builds it or None, probe inputs of 2 rows, description) for
        `trainforge plan`; assumptions made go into `notes`."""
        from trainforge.errors import ConfigError

        raise ConfigError(
            f"trainforge plan does not cover task {cfg.task!r} yet",
            where="task",
            fix="Train it directly: `metrics.json` records peak_rss_mb",
        )

    def preview(self, cfg: ExperimentConfig, rows: int) -> Preview:
        """The first `rows` training examples as training reads them, and the counts of what
        is cut (`trainforge preview`)."""
        from trainforge.errors import ConfigError

        raise ConfigError(
            f"trainforge preview does not cover task {cfg.task!r} yet: it shows the rendered "
            "prompts and loss masks of text_generation",
            where="task",
            fix="Check other tasks' data with `trainforge plan` or a short run (train.max_steps)",
        )


def _head(frame: Any, n: int) -> Any:
    """The first `n` rows of what a model reads (a DataFrame, sentences or images)."""
    if hasattr(frame, "head"):
        return frame.head(n)
    return frame.subset(range(min(n, len(frame))))


def assumed_labels(cfg: ExperimentConfig, notes: list[str]) -> int:
    """Outputs a plan sizes the head for: one (regression), `model.labels`, else an assumption."""
    if not cfg.is_classification:
        return 1
    if cfg.model.labels:
        return len(cfg.model.labels)
    notes.append(f"{ASSUMED_LABELS} labels assumed (set model.labels to count them)")
    return ASSUMED_LABELS
