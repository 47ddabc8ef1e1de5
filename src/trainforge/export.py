"""Export a model package's network to ONNX, check it against PyTorch, optionally quantize it.

`trainforge export MODEL --format onnx [--quantize int8]` writes `MODEL/onnx/`:
    model.onnx          fp32 graph; dynamic batch axis (and sequence axis for text)
    model.int8.onnx     with --quantize int8: dynamic int8 quantization of model.onnx
    parity.json         the export-time check: max |logit difference| and label agreement with
                        PyTorch on sample inputs, per model file; exporter and library versions

The fp32 file is always kept, so `load(path, onnx="fp32")` stays possible after quantizing;
`load(path, onnx=True)` (and `--onnx`) picks int8 when it was exported.

Text networks (every pooling, adapters, merged LoRA) export as the `TextClassifier` itself, the
same module PyTorch runs, so the ONNX graph needs no second definition of mean pooling or
adapters. The folder is written next to the package and renamed into place: a failed export
leaves the package as it was, and exporting again replaces the old folder.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainforge.errors import PackageError, TrainforgeError
from trainforge.package import (
    library_versions,
    read_manifest,
    swap_into_place,
    write_json,
)

FORMAT_VERSION = 1
FP32_TOLERANCE = 1e-4  # what parity.json reports as "ok" for fp32
FP32_LIMIT = 1e-3  # beyond this the graph computes something else: the export fails
SAMPLE_ROWS = 64
# Dynamic int8 weights, per output channel, 7-bit range: per-tensor int8 ran ~7% faster on
# SST-2 but cost 0.9 accuracy points against 0.4 for this setting (issue 5); reduce_range
# avoids the int16 saturation of VPMADDUBSW on CPUs without VNNI.
QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "reduce_range": True}


def check_exportable(package: Path) -> None:
    """Raise a PackageError for packages that have no network ONNX can run (scikit-learn
    estimators, recommenders, prompted language models): their family says."""
    from trainforge.config import load_config
    from trainforge.tasks.registry import family_of

    config = load_config(package / "config.yaml")
    family_of(config).check_exportable(package, config)


def export_onnx(
    package: str | Path, *, quantize: str | None = None, samples: Any = None
) -> dict[str, Any]:
    """Write `package/onnx/` and return the parity report saved there as parity.json.

    Args:
        package: the model folder (RUN_DIR/model: its current version) or one version's
            package folder.
        quantize: None (fp32 only) or "int8" (also write model.int8.onnx).
        samples: rows for the parity check (anything `Model.predict` takes); default the
            first rows of the config's test, validation or training data, or built-in
            examples when those files are not reachable from here.

    Example:
        >>> export_onnx("runs/sst2/model", quantize="int8")["models"]["int8"]["label_agreement"]
        0.995
    """
    from trainforge.versions import resolve

    package = resolve(package)
    read_manifest(package)
    check_exportable(package)
    if quantize not in (None, "int8"):
        raise TrainforgeError(
            f"unknown quantization {quantize!r}",
            where="--quantize",
            fix="Use --quantize int8, or leave it out for fp32 only",
        )
    _require_onnx()
    from trainforge.models.onnx_network import FILES, ONNX_DIR, PARITY
    from trainforge.predict import load

    model = load(package)
    batches = sample_batches(model, samples)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ONNX_DIR}-", dir=package))
    try:
        fp32 = tmp / FILES["fp32"]
        _export(model.network, batches, fp32)
        report = _report(len(batches))
        checked = parity(model, fp32, batches)
        diff = checked["max_abs_diff"]
        report["models"]["fp32"] = {**checked, "within_tolerance": diff <= FP32_TOLERANCE}
        if not diff <= FP32_LIMIT:  # also catches NaN
            raise PackageError(
                f"the exported ONNX graph disagrees with PyTorch (max |logit difference| "
                f"{diff:.3g} > {FP32_LIMIT})",
                where=str(package),
                fix="The package is unchanged; run with --debug and report the model type and "
                "backbone",
            )
        if quantize == "int8":
            int8 = tmp / FILES["int8"]
            _quantize(fp32, int8)
            report["models"]["int8"] = {**parity(model, int8, batches), **QUANTIZATION}
        write_json(tmp / PARITY, report)
        swap_into_place(tmp, package / ONNX_DIR)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def sample_batches(model: Any, samples: Any = None) -> list[dict[str, Any]]:
    """Network inputs for export and the parity check: one single-row batch, then batches of
    up to 16 rows of varying sequence length (so both dynamic axes are exercised)."""
    from trainforge.tasks.registry import family_of

    return family_of(model.config).sample_batches(model, _sample_frame(model, samples))


def parity(model: Any, file: Path, batches: list[dict[str, Any]]) -> dict[str, Any]:
    """How closely the ONNX model at `file` follows the PyTorch network on `batches`.

    Returns the file name, max |logit difference|, the fraction of decisions that agree
    (labels; tags of real tokens; each label of multi-label at 0.5; None for regression),
    and the number of rows compared.
    """
    from trainforge.models.onnx_network import OnnxNetwork, session

    onnx_net = OnnxNetwork(session(file), file)
    network = model.network.eval()
    worst, agree, total, rows = 0.0, 0, 0, 0
    with torch.inference_mode():
        for batch in batches:
            expected = network(**batch).float()
            got = onnx_net(**batch).float()
            worst = max(worst, float((expected - got).abs().max()))
            same = _decisions(model.target, expected) == _decisions(model.target, got)
            if "attention_mask" in batch and same.dim() == 2:  # tokens: real ones only
                same = same[batch["attention_mask"].bool()]
            agree += int(same.sum())
            total += same.numel()
            rows += len(expected)
    regression = model.target.kind == "regression"
    return {
        "file": file.name,
        "max_abs_diff": worst,
        "label_agreement": None if regression else agree / max(total, 1),
        "rows": rows,
    }


def _decisions(target: Any, logits: Any) -> Any:
    probabilities = target.probabilities(logits)
    if target.kind == "multilabel":
        return probabilities > 0.5
    if target.kind == "regression":
        return probabilities.new_zeros(len(probabilities), dtype=bool)  # nothing to decide
    return probabilities.argmax(-1)


def _sample_frame(model: Any, samples: Any) -> Any:
    """Sample rows as the model reads them, or None (tabular with no data reachable)."""
    if samples is not None:
        return _head(model.frame(samples))
    data = model.config.data
    for spec in (data.test, data.validation, data.train):
        if spec and (spec.startswith("sklearn:") or Path(spec).is_file()):
            try:
                return _head(model.frame(spec))
            except Exception:  # unreadable here (moved, other encoding...): try the next
                continue
    from trainforge.tasks.registry import family_of

    return family_of(model.config).fallback_samples(model)


def _head(frame: Any) -> Any:
    if hasattr(frame, "subset"):  # token-classification sentences
        return frame.subset(range(min(SAMPLE_ROWS, len(frame))))
    return frame.head(SAMPLE_ROWS)


def _export(network: Any, batches: list[dict[str, Any]], file: Path) -> None:
    """torch.onnx.export (the torch.export-based exporter) with dynamic batch and sequence."""
    from torch.export import Dim

    # torch.export specialises axes of size 0 or 1, so trace with the largest sample batch.
    example = max(batches, key=lambda b: next(iter(b.values())).numel())
    if len(next(iter(example.values()))) == 1:
        example = {k: v.repeat(2, *[1] * (v.dim() - 1)) for k, v in example.items()}
    names = list(example)
    batch, sequence = Dim("batch"), Dim("sequence")
    shapes = tuple(
        {0: batch, 1: sequence} if v.dim() == 2 and n != "features" else {0: batch}
        for n, v in example.items()
    )
    wrapper = _Positional(network, names).eval()
    try:
        with warnings.catch_warnings(), _quiet():
            # Axis-renaming notes and deprecations from inside the exporter, none actionable.
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper,
                tuple(example[n] for n in names),
                input_names=names,
                output_names=["logits"],
                dynamo=True,
                dynamic_shapes=(shapes,),  # one entry: the *tensors argument
                external_data=False,
                verbose=False,
            )
            assert program is not None
            program.save(str(file))
    except Exception as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:  # the exporter wraps the error that explains it
            cause = cause.__cause__
        raise PackageError(
            f"torch.onnx.export failed ({type(cause).__name__}: "
            f"{str(cause).strip().splitlines()[0][:300]})",
            where=type(network).__name__,
            fix="The package is unchanged; run with --debug for the traceback",
        ) from exc


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=bool(QUANTIZATION["per_channel"]),
            reduce_range=bool(QUANTIZATION["reduce_range"]),
        )


def _report(n_batches: int) -> dict[str, Any]:
    names = ("trainforge", "torch", "onnx", "onnxruntime", "onnxscript", "transformers")
    versions = library_versions(names)
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}",
        "dynamic_axes": {"batch": 0, "sequence": 1},
        "batches": n_batches,
        "tolerance": FP32_TOLERANCE,
        "versions": versions,
        "models": {},
    }


def _require_onnx() -> None:
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            raise PackageError(
                f"{name} is not installed",
                where="trainforge export --format onnx",
                fix="Install the ONNX extras: pip install 'trainforge[onnx]'",
            ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No progress lines on stdout and no log warnings from the exporter or quantizer
    (missing torchvision ops, "consider pre-processing"): the CLI's output stays ours."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


class _Positional(nn.Module):
    """Calls `network(**{name: tensor})` with positional tensors: the exporter names the
    graph's inputs after positional arguments, and our networks take keywords."""

    def __init__(self, network: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.network = network
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.network(**dict(zip(self.names, tensors, strict=True)))
