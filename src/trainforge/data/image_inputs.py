"""What an image model takes as input: size, channels and normalisation, and how to read inputs.

`ImageInputs` is to images what `TabularPreprocessor` is to tables: fitted on the training
images (per-channel mean and deviation, or ImageNet's for a pretrained backbone), saved in the
package as JSON, and used unchanged at predict time, where it also turns whatever the user
passes (paths, base64 strings, bytes, arrays, PIL images, folders, tables) into `Images`.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.data.images import (
    ImageFormat,
    Images,
    ImageSource,
    decode,
    image_suffixes,
    read_source,
)
from trainforge.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BASE64_HINT = "a base64-encoded image file (PNG, JPEG, ...; a data: URI prefix is allowed)"


class ImageInputs:
    """Decoding, resizing and normalisation of a model's images.

    Args:
        fmt: the size and channels the model takes.
        mean, std: per-channel normalisation on a 0-1 scale.
        label_column, image_column: how tables of paths name their columns.

    Example:
        >>> inputs = ImageInputs(ImageFormat((28, 28), 1), (0.13,), (0.31,))
        >>> batch = inputs.tensor(images.pixels[:8])   # (8, 1, 28, 28) float32, normalised
    """

    def __init__(
        self,
        fmt: ImageFormat,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        label_column: str = "label",
        image_column: str = "path",
    ) -> None:
        self.format = fmt
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.label_column = label_column
        self.image_column = image_column

    # --- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "size": list(self.format.size),
            "channels": self.format.channels,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": "bilinear",
            "label_column": self.label_column,
            "image_column": self.image_column,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ImageInputs:
        size = (int(state["size"][0]), int(state["size"][1]))
        return cls(
            ImageFormat(size, int(state["channels"])),
            tuple(state["mean"]),
            tuple(state["std"]),
            state.get("label_column", "label"),
            state.get("image_column", "path"),
        )

    # --- tensors -------------------------------------------------------------------------

    def tensor(self, pixels: Any) -> Any:
        """uint8 pixels (n, c, h, w), numpy or torch, → normalised float32 tensor."""
        return self.normalise(_as_tensor(pixels).float().div_(255.0))

    def normalise(self, images: Any) -> Any:
        """Float images on a 0-1 scale → (x - mean) / std per channel."""
        import torch

        mean = torch.tensor(self.mean, dtype=images.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype).view(1, -1, 1, 1)
        return (images - mean) / std

    def batches(
        self, images: Images, batch_size: int
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """(row positions, {"images": tensor}) per batch, in order (what `Model` runs)."""
        for start in range(0, len(images), batch_size):
            rows = np.arange(start, min(start + batch_size, len(images)))
            yield rows, {"images": self.tensor(images.pixels[rows])}

    # --- reading inputs ------------------------------------------------------------------

    def read(self, rows: Any) -> Images:
        """Images to predict on, in the model's format.

        Args:
            rows: `Images`; a folder, table, IDX file, image file or "sklearn:digits"; a
                base64 string; bytes of an image file; a PIL image; a uint8 array (h, w),
                (h, w, c) or (n, h, w[, c]); or a list of any of the single-image kinds.
        """
        if isinstance(rows, Images):
            return rows
        if isinstance(rows, np.ndarray) and _is_stack(rows):
            rows = list(rows)
        if isinstance(rows, (str, Path)):
            _check_exists(str(rows))
        if isinstance(rows, (str, Path)) and _is_data_set(str(rows)):
            source = read_source(
                str(rows), label_column=self.label_column, image_column=self.image_column
            )
            return decode(source, self.format)
        items = rows if isinstance(rows, (list, tuple)) else [rows]
        if not items:
            raise DataError("no images to predict on", where="input", fix="Pass at least one")
        openers = [_opener(item, i) for i, item in enumerate(items)]
        names = [_name(item, i) for i, item in enumerate(items)]
        source = ImageSource(names, None, lambda i: openers[i](), "input")
        return decode(source, self.format)


def fit_normalisation(pixels: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and deviation of uint8 images (n, c, h, w), on a 0-1 scale."""
    values = pixels.astype(np.float64) / 255.0
    mean = values.mean(axis=(0, 2, 3))
    std = np.maximum(values.std(axis=(0, 2, 3)), 1e-3)  # a blank channel must not divide by 0
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def decode_base64(text: str, where: str = "input") -> bytes:
    """The bytes of a base64 image string (a "data:image/png;base64," prefix is dropped)."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DataError(
            f"{_short(text)!r} is neither an image file nor base64 image data",
            where=where,
            fix=f"Pass a path to an image, or {_BASE64_HINT}",
        ) from None


def _is_stack(array: np.ndarray) -> bool:
    """(n, h, w) or (n, h, w, c) arrays hold several images; (h, w) and (h, w, c) one."""
    return array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4))


def _is_data_set(spec: str) -> bool:
    """A path naming several images (folder, table, IDX) or a bundled set, not one image."""
    if spec.startswith("sklearn:"):
        return True
    if len(spec) > 4096 or "\n" in spec:
        return False  # base64 data, not a path
    path = Path(spec)
    try:
        return path.is_dir() or (path.is_file() and path.suffix.lower() not in image_suffixes())
    except OSError:  # a name too long for the file system: base64 data
        return False


def _check_exists(spec: str) -> None:
    """A name with a suffix is a path (base64 has no dots): one that is missing is named."""
    if len(spec) > 4096 or "\n" in spec or spec.startswith(("sklearn:", "data:")):
        return
    try:
        missing = bool(Path(spec).suffix) and not Path(spec).exists()
    except OSError:  # a name too long for the file system: base64 data
        return
    if missing:
        raise DataError(
            "file not found",
            where=spec,
            fix="Check the path: an image file, a folder of images, or a table of image paths",
        )


def _opener(item: Any, i: int) -> Any:
    from PIL import Image

    if isinstance(item, Image.Image):
        return lambda: item.copy()
    if isinstance(item, np.ndarray):
        array = item.transpose(1, 2, 0) if item.ndim == 3 and item.shape[0] in (1, 3) else item
        array = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
        return lambda: Image.fromarray(np.ascontiguousarray(array).astype(np.uint8))
    if isinstance(item, bytes):
        return lambda: Image.open(io.BytesIO(item))
    if isinstance(item, Path) or (isinstance(item, str) and _looks_like_path(item)):
        return lambda: Image.open(Path(item))
    if isinstance(item, str):
        data = decode_base64(item, f"inputs[{i}]")
        return lambda: Image.open(io.BytesIO(data))
    raise DataError(
        f"cannot read a {type(item).__name__} as an image",
        where=f"inputs[{i}]",
        fix=f"Pass image paths, {_BASE64_HINT}, bytes, PIL images or uint8 arrays",
    )


def _looks_like_path(text: str) -> bool:
    if len(text) > 4096 or "\n" in text:
        return False
    try:
        return Path(text).is_file() or Path(text).suffix.lower() in image_suffixes()
    except OSError:
        return False


def _name(item: Any, i: int) -> str:
    if isinstance(item, Path) or (isinstance(item, str) and _looks_like_path(item)):
        return str(item)
    return f"inputs[{i}]"


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."


def _as_tensor(pixels: Any) -> Any:
    import torch

    return pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.asarray(pixels))
