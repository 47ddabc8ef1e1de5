"""Inference on a model package: `trainforge.load(path).predict(rows)`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from trainforge.config import ExperimentConfig, load_config
from trainforge.data.readers import read_table
from trainforge.data.tabular import TabularPreprocessor
from trainforge.errors import DataError, PackageError
from trainforge.package import ESTIMATOR, WEIGHTS, read_manifest
from trainforge.tasks import Target, target_from_state

Rows: TypeAlias = pd.DataFrame | list[Any] | dict[str, Any] | str | Path
CHUNK_ROWS = 8192  # rows predicted at a time when streaming to a file


class Model:
    """A trained model: input preprocessing, network or estimator, and output decoding.

    Built by training (in memory) or by `load` (from a package); both predict the same way.

    Args:
        config: the resolved experiment config.
        inputs: fitted input preprocessing: `TabularPreprocessor` or `TextInputs`.
        target: the fitted target handler (labels / scaling / thresholds).
        network: a torch module (torch models) or None.
        estimator: a fitted scikit-learn estimator (classical models) or None.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        inputs: Any,
        target: Target,
        network: Any = None,
        estimator: Any = None,
    ) -> None:
        self.config = config
        self.inputs = inputs
        self.target = target
        self.network = network
        self.estimator = estimator

    @property
    def labels(self) -> list[str] | None:
        labels = self.target.display_labels()
        return list(labels) if labels is not None else None

    def predict(self, rows: Rows) -> list[dict[str, Any]]:
        """One dict per row: {"label", "score", "probabilities"}, {"labels", "probabilities"}
        (multi-label) or {"value"} (regression).

        Args:
            rows: a DataFrame, a list of dicts (or of strings for text models), one dict, or a
                file path / "sklearn:NAME".

        Example:
            >>> model.predict(["a gripping, funny film"])[0]["label"]
            'positive'
        """
        frame = self.frame(rows)
        return self.target.decode(self.output(frame), frame)

    def predict_stream(self, frame: Any, chunk_rows: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
        """The predictions of `predict`, one at a time, computed `chunk_rows` rows at a time:
        outputs are held for one chunk only, however long the input.

        Args:
            frame: what `frame(rows)` returned (sentences and images come as one chunk).
            chunk_rows: rows per chunk (default 8192).
        """
        if not isinstance(frame, pd.DataFrame):
            yield from self.target.decode(self.output(frame), frame)
            return
        if hasattr(self.inputs, "texts"):
            self.inputs.texts(frame)  # errors name the row of the whole input, not of a chunk
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            yield from self.target.decode(self.output(chunk), chunk)

    def frame(self, rows: Rows) -> Any:
        """Rows as a DataFrame (strings become the text column of text models); sentences
        (`trainforge.data.conll.Sentences`) for token-classification models."""
        if self.config.is_token or self.config.is_image:
            return self.inputs.read(rows)
        text_column = self.config.data.text_column if self.config.is_text else None
        return as_frame(rows, self.config.data.encoding, text_column)

    def output(self, frame: Any) -> Any:
        """Raw task output: probabilities (n, k), standardised values (n,) for regression, or
        one (words, tags) array of probabilities per sentence for token classification."""
        if self.config.is_token:
            return self.word_outputs(self.inputs.windows(frame))
        if self.estimator is not None:
            features = self.inputs.transform(frame)
            if self.target.kind == "regression":
                return np.asarray(self.estimator.predict(features), dtype=np.float64)
            return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return self._forward(self.input_batches(frame), len(frame))

    def input_batches(self, frame: Any, batch_size: int | None = None) -> Any:
        """(row positions, network inputs) per batch of a frame (tabular and text models)."""
        batch_size = batch_size or self.config.train.eval_batch_size
        if isinstance(self.inputs, TabularPreprocessor):
            return _feature_batches(self.inputs.transform(frame), batch_size)
        return self.inputs.batches(frame, batch_size)

    def _forward(self, batches: Any, n: int) -> np.ndarray:
        import torch

        self.network.eval()
        device = next(self.network.parameters()).device
        result: np.ndarray | None = None
        with torch.inference_mode():
            for rows, batch in batches:
                output = self.target.probabilities(
                    self.network(**{k: v.to(device) for k, v in batch.items()})
                )
                values = output.double().cpu().numpy()
                if result is None:
                    result = np.zeros((n, *values.shape[1:]), dtype=np.float64)
                result[rows] = values
        assert result is not None, "no rows"
        return result

    def word_outputs(self, windows: Any) -> list[np.ndarray]:
        """Tag probabilities of every word of every sentence, from its sub-word windows."""
        import torch

        from trainforge.data.tokens import merge_windows

        self.network.eval()
        device = next(self.network.parameters()).device

        def per_window() -> Any:
            with torch.inference_mode():
                for chosen, batch in self.inputs.batches(
                    windows, self.config.train.eval_batch_size
                ):
                    logits = self.network(**{k: v.to(device) for k, v in batch.items()})
                    probabilities = self.target.probabilities(logits).double().cpu().numpy()
                    yield from zip(chosen, probabilities, strict=True)

        return merge_windows(windows, per_window())

    def evaluate(self, rows: Rows) -> dict[str, Any]:
        """Metrics on labelled rows (the label column must be present)."""
        frame = self.frame(rows)
        if self.config.is_token:
            return self._evaluate_sentences(frame)
        if self.config.is_image:
            return self._evaluate_images(frame)
        column = self.config.data.label_column
        if column not in frame.columns:
            raise DataError(
                f"label column {column!r} not found; evaluation needs labelled rows",
                where=str(frame.attrs.get("source", "input")),
                fix=f"Add the {column!r} column, or use `trainforge predict` for unlabelled data",
            )
        return self.target.metrics(encode_targets(self.target, frame), self.chunked_output(frame))

    def chunked_output(self, frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """`output(frame)` computed `chunk_rows` rows at a time: only the outputs (one row of
        probabilities per input) outlive a chunk, never its texts, tokens or batches."""
        if hasattr(self.inputs, "texts"):
            self.inputs.texts(frame)  # errors name the row of the whole input, not of a chunk
        parts = [
            self.output(frame.iloc[start : start + chunk_rows])
            for start in range(0, len(frame), chunk_rows)
        ]
        return np.concatenate(parts) if parts else self.output(frame)

    def _evaluate_sentences(self, sentences: Any) -> dict[str, Any]:
        if sentences.tags is None:
            raise DataError(
                "the sentences carry no tags; evaluation needs tagged data",
                where=sentences.source,
                fix="Pass a CoNLL file with a tag column or JSONL with 'tags' (or 'entities'), "
                "or use `trainforge predict` for untagged text",
            )
        truth = self.target.encode_tags(sentences.tags, sentences.place)  # type: ignore[union-attr]
        return self.target.metrics(truth, self.output(sentences))  # type: ignore[arg-type]

    def _evaluate_images(self, images: Any) -> dict[str, Any]:
        if images.labels is None:
            raise DataError(
                "the images carry no labels; evaluation needs labelled images",
                where=images.source,
                fix="Pass a folder with one sub-folder per class or a table with labels, or "
                "use `trainforge predict` for unlabelled images",
            )
        truth = self.target.encode_values(images.labels, lambda i: images.names[i])  # type: ignore[union-attr]
        return self.target.metrics(truth, self.output(images))  # type: ignore[arg-type]


def write_predictions(predictions: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write predictions as JSON lines while they are computed; returns how many.

    Lines go to a hidden temporary file next to `path`, renamed into place at the end, so a
    failure halfway leaves no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for prediction in predictions:
                out.write(json.dumps(prediction) + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def encode_targets(target: Target, frame: pd.DataFrame) -> np.ndarray:
    """Encoded targets of a labelled frame, for any target kind."""
    if hasattr(target, "encode"):
        return target.encode(frame)
    from trainforge.data.readers import row_place
    from trainforge.tasks.multilabel import MultiLabelTarget

    if not isinstance(target, MultiLabelTarget):
        raise TypeError(f"{target.kind} targets are encoded from sentences, not a frame")
    rows = list(frame.index)
    return target.encode_values(frame[target.column], lambda i: row_place(frame, rows[i]))


def _feature_batches(features: np.ndarray, batch_size: int) -> Any:
    import torch

    for start in range(0, len(features), batch_size):
        rows = np.arange(start, min(start + batch_size, len(features)))
        yield rows, {"features": torch.from_numpy(features[start : start + batch_size])}


def as_frame(rows: Rows, encoding: str = "utf-8", text_column: str | None = None) -> pd.DataFrame:
    """Accept a DataFrame, records, one record, strings (text models) or a file path.

    A .txt file (text models) holds one text per line.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows
    elif isinstance(rows, (str, Path)) and text_column and str(rows).endswith(".txt"):
        path = Path(rows)
        if not path.is_file():
            read_table(str(path))  # raises the usual file-not-found error
        lines = [line for line in path.read_text(encoding=encoding).splitlines() if line.strip()]
        frame = pd.DataFrame({text_column: lines})
        frame.attrs.update(source=str(path), first_line=1)
    elif isinstance(rows, (str, Path)):
        frame = read_table(str(rows), encoding=encoding)
    elif isinstance(rows, dict):
        frame = pd.DataFrame([rows])
    elif isinstance(rows, list) and text_column and all(isinstance(r, str) for r in rows):
        frame = pd.DataFrame({text_column: rows})
    elif isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        frame = pd.DataFrame.from_records(rows)
    else:
        kind = "a list of strings, " if text_column else ""
        raise DataError(
            f"cannot predict on a {type(rows).__name__}",
            where="predict(rows)",
            fix=f"Pass {kind}a DataFrame, a list of dicts (one per row), or a file path",
        )
    if frame.empty:
        raise DataError(
            "no rows to predict on",
            where=str(frame.attrs.get("source", "input")),
            fix="Pass at least one row",
        )
    frame.attrs.setdefault("source", "input")
    return frame


def load(path: str | Path, *, onnx: bool | str = False) -> Model:
    """Load a model package written by `trainforge train`.

    Args:
        path: the model folder (RUN_DIR/model: its current version is loaded) or one
            version's package folder (RUN_DIR/model/v2).
        onnx: run the network with ONNX Runtime from the package's `onnx/` folder (written by
            `trainforge export`) instead of PyTorch: True picks the int8 model when one was
            exported, else fp32; "fp32" or "int8" picks one. Default False (PyTorch).

    Example:
        >>> model = trainforge.load("runs/iris/model")
        >>> fast = trainforge.load("runs/sst2/model", onnx=True)
    """
    from trainforge.versions import resolve

    path = resolve(path)
    manifest = read_manifest(path)
    config = load_config(path / "config.yaml")
    target = target_from_state(manifest["target"])
    if config.is_recommendation:
        if onnx is not False:
            raise PackageError(
                "recommender packages run with PyTorch only",
                where=str(path),
                fix="Drop --onnx",
            )
        from trainforge.models.recommender_package import load_recommender
        from trainforge.recommend import RecommenderModel

        catalog, recommender = load_recommender(path, manifest)
        return RecommenderModel(config, catalog, target, network=recommender)
    if onnx is not False:
        return _load_onnx(path, config, manifest, target, None if onnx is True else str(onnx))
    if config.is_image:
        from trainforge.models.image_package import load_image_model

        image_inputs, image_network = load_image_model(path, config, manifest)
        return Model(config, image_inputs, target, network=image_network)
    if config.is_text:
        from trainforge.models.text_package import load_text_model

        inputs, network = load_text_model(path, config, manifest)
        return Model(config, inputs, target, network=network)
    preprocessor = TabularPreprocessor.from_state(
        json.loads((path / "preprocessor.json").read_text(encoding="utf-8"))
    )
    if (path / ESTIMATOR).is_file():
        from trainforge.models.classical import load_estimator

        return Model(config, preprocessor, target, estimator=load_estimator(path / ESTIMATOR))
    from safetensors.torch import load_file

    from trainforge.models import build_network

    spec = manifest["network"]
    network = build_network(config.model, spec["in_features"], spec["out_features"])
    network.load_state_dict(load_file(path / WEIGHTS))
    network.eval()
    return Model(config, preprocessor, target, network=network)


def _load_onnx(
    path: Path,
    config: ExperimentConfig,
    manifest: dict[str, Any],
    target: Target,
    precision: str | None,
) -> Model:
    """A `Model` whose network is the package's exported ONNX graph run by ONNX Runtime."""
    from trainforge.export import check_exportable
    from trainforge.models.onnx_network import load_onnx_network

    check_exportable(path)
    network = load_onnx_network(path, precision)  # type: ignore[arg-type]
    if config.is_image:
        from trainforge.models.image_package import load_image_inputs

        return Model(config, load_image_inputs(path), target, network=network)
    if config.is_text:
        from trainforge.models.text_package import load_text_inputs

        return Model(config, load_text_inputs(path, config, manifest), target, network=network)
    preprocessor = TabularPreprocessor.from_state(
        json.loads((path / "preprocessor.json").read_text(encoding="utf-8"))
    )
    return Model(config, preprocessor, target, network=network)
