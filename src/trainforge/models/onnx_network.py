"""Running a package's exported ONNX graph with ONNX Runtime in place of the torch network.

`OnnxNetwork` is called like the torch network it replaces (`network(**batch)` with torch
tensors, returning a torch tensor of logits), so `Model.predict` runs unchanged on either.

Package layout (written by `trainforge export MODEL --format onnx`, see `trainforge.export`):
    onnx/model.onnx         fp32 graph, dynamic batch (and sequence) axes
    onnx/model.int8.onnx    int8 dynamic quantization of it (only with --quantize int8)
    onnx/parity.json        export-time check against PyTorch, library versions
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeAlias

import torch
from torch import nn

from trainforge.errors import PackageError, format_choices

ONNX_DIR = "onnx"
PARITY = "parity.json"
FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
Precision: TypeAlias = Literal["fp32", "int8"]


class OnnxNetwork(nn.Module):
    """An ONNX Runtime session that takes and returns torch tensors like the network it replaces.

    Args:
        session: an `onnxruntime.InferenceSession` of an exported trainforge network.
        file: the .onnx file it was loaded from (shown in errors and `repr`).
    """

    def __init__(self, session: Any, file: Path) -> None:
        super().__init__()
        self.session = session
        self.file = file
        self.input_names = [i.name for i in session.get_inputs()]
        # Model reads the device from the first parameter and moves batches there; an empty
        # CPU parameter keeps that code shared with torch networks (ONNX Runtime reads numpy).
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise PackageError(
                f"the ONNX graph needs inputs {format_choices(missing)} that the batch lacks "
                f"(it has {format_choices(list(inputs))})",
                where=str(self.file),
                fix="Re-export with the package's own tokenizer: trainforge export MODEL "
                "--format onnx",
            )
        feed = {name: inputs[name].cpu().numpy() for name in self.input_names}
        (logits,) = self.session.run(None, feed)
        return torch.from_numpy(logits)

    def extra_repr(self) -> str:
        return f"file={self.file}, inputs={self.input_names}"


def onnx_file(package: Path, precision: Precision | None = None) -> Path:
    """The .onnx file to run: `precision` if given, else int8 when it was exported, else fp32.

    Raises PackageError naming the export command when the package has not been exported.
    """
    folder = package / ONNX_DIR
    if not (folder / FILES["fp32"]).is_file():
        raise PackageError(
            "the package has no ONNX export (onnx/model.onnx)",
            where=str(package),
            fix=f"Run `trainforge export {package} --format onnx` first",
        )
    if precision is None:
        precision = "int8" if (folder / FILES["int8"]).is_file() else "fp32"
    if precision not in FILES:
        raise PackageError(
            f"unknown ONNX precision {precision!r}",
            where="load(onnx=...)",
            fix=f"Use True (the exported default), {format_choices(list(FILES))}",
        )
    file = folder / FILES[precision]
    if not file.is_file():
        raise PackageError(
            f"the package has no {precision} ONNX model ({ONNX_DIR}/{FILES[precision]})",
            where=str(package),
            fix=f"Run `trainforge export {package} --format onnx --quantize int8` first",
        )
    return file


def session(file: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with all graph optimisations.

    Args:
        file: the .onnx model.
        threads: intra-op threads; default torch's thread count (which honours
            OMP_NUM_THREADS), so ONNX Runtime and PyTorch get the same cores.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise PackageError(
            "onnxruntime is not installed",
            where=str(file),
            fix="Install the ONNX extras: pip install 'trainforge[onnx]'",
        ) from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads() or os.cpu_count() or 1
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... classes
        raise PackageError(
            f"cannot load the ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            where=str(file),
            fix="Re-export it: trainforge export MODEL --format onnx",
        ) from None


def load_onnx_network(package: Path, precision: Precision | None = None) -> OnnxNetwork:
    """The package's exported network as an `OnnxNetwork` (see `onnx_file` for the choice)."""
    file = onnx_file(package, precision)
    return OnnxNetwork(session(file), file)
