"""Image readers: class folders, path/label tables, MNIST IDX files and `sklearn:digits`.

A reader returns an `ImageSource` (names, labels and a way to open each image); `decode` turns
it into `Images`, one uint8 array (n, channels, height, width) at a single size, with Pillow
only. Every image is named by its file (or "file image 17"), so a corrupt one is reported where
it is; `on_bad_image: skip` leaves such images out with a warning instead.
"""

from __future__ import annotations

import gzip
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainforge.errors import DataError, did_you_mean, format_choices

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801
_SKLEARN_IMAGE_SETS = ("digits",)


@dataclass(frozen=True)
class ImageFormat:
    """What every image becomes: (height, width) and 1 (grey) or 3 (RGB) channels."""

    size: tuple[int, int]
    channels: int


@dataclass(frozen=True, eq=False)
class Images:
    """Decoded images of one data set, all of one format.

    Attributes:
        pixels: (n, channels, height, width) uint8.
        labels: (n,) label strings, or None for unlabelled images.
        names: where each image came from (a file, or "file image 17").
        source: the data set as the user named it (a folder, file or "sklearn:digits").
    """

    pixels: np.ndarray
    labels: np.ndarray | None
    names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, index: Sequence[int] | np.ndarray) -> Images:
        """The images at positions `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        labels = self.labels[index] if self.labels is not None else None
        return Images(self.pixels[index], labels, [self.names[i] for i in index], self.source)

    def head(self, n: int) -> Images:
        return self.subset(np.arange(min(n, len(self))))


@dataclass(frozen=True, eq=False)
class ImageSource:
    """Images not yet decoded: a name and an opener (-> PIL image) per image.

    `array` holds the pixels already (IDX files, sklearn digits; (n, h, w) uint8) so that
    decoding them at their own size needs no Pillow round trip.
    """

    names: list[str]
    labels: list[str] | None
    opener: Callable[[int], Any]
    source: str
    array: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)


# --- readers -------------------------------------------------------------------------------


def read_source(
    spec: str,
    *,
    labels_file: str | None = None,
    label_column: str = "label",
    image_column: str = "path",
) -> ImageSource:
    """Open a data set of images without decoding them.

    Args:
        spec: a folder (one sub-folder per class, or images only), a table of image paths
            (.csv/.tsv/.jsonl/.parquet; paths relative to the table), an IDX image file (plain
            or .gz), one image file, or "sklearn:digits".
        labels_file: the IDX label file that goes with IDX images (`data.labels`).
        label_column: tables: the label column (may be absent for unlabelled images).
        image_column: tables: the column of image paths.
    """
    if spec.startswith("sklearn:"):
        return _read_sklearn(spec.removeprefix("sklearn:"))
    path = Path(spec)
    if path.is_dir():
        return _read_folder(path, spec)
    if not path.is_file():
        raise DataError("file or folder not found", where=spec, fix=_missing_fix(path))
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _read_table(spec, label_column, image_column)
    if _is_idx(path):
        return _read_idx(path, spec, labels_file)
    if suffix in image_suffixes():
        return ImageSource([spec], None, lambda i: _open(path), spec)
    raise DataError(
        f"unsupported file type {suffix or '(none)'!r} for images",
        where=spec,
        fix="Use a folder of class sub-folders, a table of paths "
        f"({format_choices(TABLE_SUFFIXES)}), MNIST IDX files, an image file, or "
        "'sklearn:digits'",
    )


def image_suffixes() -> frozenset[str]:
    """File suffixes Pillow can read (.png, .jpg, .bmp, .gif, .tif, .webp, ...)."""
    from PIL import Image

    return frozenset(Image.registered_extensions())


def _read_folder(root: Path, spec: str) -> ImageSource:
    suffixes = image_suffixes()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:  # a plain folder of images: unlabelled
        files = _image_files(root, suffixes, recursive=False)
        if not files:
            raise DataError(
                "the folder holds no class sub-folders and no images",
                where=spec,
                fix="Put the images of each class in a sub-folder named after the class",
            )
        return _file_source(files, None, spec)
    files, labels = [], []
    for folder in folders:
        found = _image_files(folder, suffixes, recursive=True)
        if not found:
            raise DataError(
                f"class folder {folder.name!r} holds no images",
                where=str(folder),
                fix="Add images to it (any file Pillow reads: .png, .jpg, .bmp, ...) or remove "
                "the folder",
            )
        files += found
        labels += [folder.name] * len(found)
    return _file_source(files, labels, spec)


def _image_files(folder: Path, suffixes: frozenset[str], *, recursive: bool) -> list[Path]:
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in pattern
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )


def _file_source(files: list[Path], labels: list[str] | None, spec: str) -> ImageSource:
    return ImageSource([str(f) for f in files], labels, lambda i: _open(files[i]), spec)


def _read_table(spec: str, label_column: str, image_column: str) -> ImageSource:
    from trainforge.data.readers import read_table, row_place

    frame = read_table(spec)
    columns = [str(c) for c in frame.columns]
    if image_column not in columns:
        raise DataError(
            f"column {image_column!r} (data.image_column) not found",
            where=spec,
            fix=f"The file has columns {format_choices(columns)}."
            f"{did_you_mean(image_column, columns)} Name the column of image paths "
            "'path', or set data.image_column",
        )
    base = Path(spec).parent
    paths = [base / str(p) for p in frame[image_column]]
    names = [f"{p} ({row_place(frame, r)})" for p, r in zip(paths, frame.index, strict=True)]
    labels = None
    if label_column in columns:
        values = frame[label_column]
        if values.isna().any():
            row = frame.index[values.isna()][0]
            raise DataError(
                f"no value in the label column {label_column!r}",
                where=row_place(frame, row),
                fix="Fill in or drop that row",
            )
        labels = [str(v) for v in values]
    return ImageSource(names, labels, lambda i: _open(paths[i]), spec)


def _is_idx(path: Path) -> bool:
    """IDX files by their magic number (0x0000080N after optional gzip)."""
    try:
        with _idx_open(path) as handle:
            head = handle.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[:3] == b"\x00\x00\x08"


def _idx_open(path: Path) -> Any:
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def read_idx(path: Path, spec: str) -> np.ndarray:
    """The uint8 array of an IDX file (MNIST format: images (n, h, w) or labels (n,))."""
    try:
        with _idx_open(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read the IDX file ({exc})", where=spec) from None
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise DataError(
            f"not an MNIST IDX file of images or labels (magic number {magic:#010x})",
            where=spec,
            fix="Use the idx3-ubyte (images) and idx1-ubyte (labels) files, plain or .gz",
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    start, count = 4 + 4 * len(dims), int(np.prod(dims))
    if len(data) - start != count:
        raise DataError(
            f"the IDX file is truncated: {len(data) - start} bytes of data for shape {dims}",
            where=spec,
            fix="Download the file again",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims)


def _read_idx(path: Path, spec: str, labels_file: str | None) -> ImageSource:
    array = read_idx(path, spec)
    if array.ndim != 3:
        raise DataError(
            "this IDX file holds labels, not images",
            where=spec,
            fix="Point data.train at the images file and data.labels at this one",
        )
    labels = None
    if labels_file is not None:
        label_path = Path(labels_file)
        if not label_path.is_file():
            raise DataError("file not found", where=labels_file, fix=_missing_fix(label_path))
        values = read_idx(label_path, labels_file)
        if values.ndim != 1 or len(values) != len(array):
            raise DataError(
                f"{len(values)} labels for {len(array)} images in {spec}",
                where=labels_file,
                fix="Use the label file that belongs to the images (data.labels)",
            )
        labels = [str(int(v)) for v in values]
    names = [f"{spec} image {i}" for i in range(len(array))]
    return ImageSource(names, labels, lambda i: _from_array(array[i]), spec, array=array)


def _read_sklearn(name: str) -> ImageSource:
    if name not in _SKLEARN_IMAGE_SETS:
        raise DataError(
            f"unknown image set {name!r}",
            where=f"sklearn:{name}",
            fix=f"Use one of {format_choices([f'sklearn:{n}' for n in _SKLEARN_IMAGE_SETS])}."
            f"{did_you_mean(name, _SKLEARN_IMAGE_SETS)}",
        )
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0-16 intensities, as bundled; scaled to the 0-255 of every other image.
    array = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    labels = [str(int(t)) for t in digits.target]
    spec = f"sklearn:{name}"
    names = [f"{spec} image {i}" for i in range(len(array))]
    return ImageSource(names, labels, lambda i: _from_array(array[i]), spec, array=array)


def _open(path: Path) -> Any:
    from PIL import Image

    return Image.open(path)


def _from_array(array: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(array)


def _missing_fix(path: Path) -> str:
    parent = path.parent
    if parent.is_dir():
        nearby = [p.name for p in parent.iterdir()][:50]
        hint = did_you_mean(path.name, nearby)
        if hint:
            return hint.strip()
    return "Check the path; relative paths start from the folder you run trainforge in"


# --- decoding ------------------------------------------------------------------------------


def natural_format(source: ImageSource) -> ImageFormat:
    """The most common size among the images, and 3 channels if any is in colour, else 1.

    Reads only file headers; an unreadable image is left to `decode` to report.
    """
    if source.array is not None:
        height, width = source.array.shape[1:3]
        return ImageFormat((int(height), int(width)), 1 if source.array.ndim == 3 else 3)
    sizes: Counter[tuple[int, int]] = Counter()
    colour = False
    for i in range(len(source)):
        try:
            with source.opener(i) as image:
                sizes[(image.height, image.width)] += 1
                colour = colour or image.mode not in GREY_MODES
        except Exception:  # reported with its name when decoded
            continue
    if not sizes:
        return ImageFormat((32, 32), 3)  # nothing readable: decode reports every image
    return ImageFormat(sizes.most_common(1)[0][0], 3 if colour else 1)


def decode(source: ImageSource, fmt: ImageFormat, on_bad: str = "error") -> Images:
    """Decode, convert and resize every image of `source` to `fmt`.

    Args:
        source: from `read_source` (or built from predict inputs).
        fmt: the size and channels every image gets (grey is repeated into RGB; RGB is
            converted to grey with Pillow's ITU-R 601-2 luma; alpha is dropped).
        on_bad: "error" raises a DataError naming the first unreadable image; "skip" leaves
            unreadable images out and logs how many.
    """
    if source.array is not None and source.array.shape[1:3] == fmt.size and fmt.channels == 1:
        pixels = source.array[:, None, :, :].copy()
        return Images(pixels, _labels(source.labels), list(source.names), source.source)
    pixels = np.empty((len(source), fmt.channels, *fmt.size), dtype=np.uint8)
    kept: list[int] = []
    bad: list[str] = []
    for i in range(len(source)):
        try:
            pixels[len(kept)] = to_array(source.opener(i), fmt)
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, ...
            if on_bad != "skip":
                raise DataError(
                    f"cannot read this image ({_reason(exc)})",
                    where=source.names[i],
                    fix="Replace or remove the file, or set data.on_bad_image: skip to leave "
                    "unreadable images out",
                ) from None
            bad.append(source.names[i])
            continue
        kept.append(i)
    if bad:
        log.warning(
            "Skipped %d unreadable image(s) of %s (data.on_bad_image: skip): %s",
            len(bad),
            source.source,
            ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""),
        )
    if not kept:
        raise DataError("no readable images", where=source.source, fix="Check the files are images")
    labels = [source.labels[i] for i in kept] if source.labels is not None else None
    names = [source.names[i] for i in kept]
    return Images(pixels[: len(kept)], _labels(labels), names, source.source)


def to_array(image: Any, fmt: ImageFormat) -> np.ndarray:
    """One PIL image as (channels, height, width) uint8 in `fmt` (the image is closed)."""
    from PIL import Image

    with image:
        image.load()  # decodes now, so a truncated file fails here, by name
        if image.mode == "P" or image.mode.startswith("I") or image.mode == "F":
            image = image.convert("RGBA" if image.mode == "P" else "L")
        image = image.convert("L" if fmt.channels == 1 else "RGB")
        height, width = fmt.size
        if (image.height, image.width) != (height, width):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _labels(labels: list[str] | None) -> np.ndarray | None:
    return np.asarray(labels, dtype=object) if labels is not None else None


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
