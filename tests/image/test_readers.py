"""Image readers: folders, tables, IDX files, sklearn digits; bad images named by file."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest

from trainforge.data.images import ImageFormat, decode, natural_format, read_source
from trainforge.errors import DataError

from .conftest import digit_images, write_png


def test_class_folders_give_labels_from_folder_names(class_folder: Path) -> None:
    source = read_source(str(class_folder))
    assert sorted(set(source.labels or [])) == ["0", "1", "2"] and len(source) == 36
    images = decode(source, natural_format(source))
    assert images.pixels.shape == (36, 1, 8, 8) and images.pixels.dtype == np.uint8
    assert images.names[0].endswith("0.png")


def test_non_image_files_are_ignored(class_folder: Path) -> None:
    (class_folder / "0" / "notes.txt").write_text("not an image")
    assert len(read_source(str(class_folder))) == 36


def test_a_class_folder_without_images_is_an_error(class_folder: Path) -> None:
    (class_folder / "empty").mkdir()
    (class_folder / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match=r"empty: class folder 'empty' holds no images"):
        read_source(str(class_folder))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: b"this is not an image at all", "cannot identify"),
    ],
)
def test_a_corrupt_image_is_reported_by_name(class_folder: Path, damage, reason: str) -> None:
    bad = class_folder / "1" / "13.png"
    bad.write_bytes(damage(bad.read_bytes()))
    source = read_source(str(class_folder))
    with pytest.raises(DataError, match=r"13\.png: cannot read this image \(.*" + reason):
        decode(source, natural_format(source))


def test_on_bad_image_skip_leaves_the_image_out(
    class_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = class_folder / "1" / "13.png"
    bad.write_bytes(bad.read_bytes()[:40])
    source = read_source(str(class_folder))
    with caplog.at_level(logging.WARNING):
        images = decode(source, natural_format(source), on_bad="skip")
    assert len(images) == 35 and not any(n.endswith("13.png") for n in images.names)
    assert "Skipped 1 unreadable image(s)" in caplog.text and "13.png" in caplog.text


def test_mixed_sizes_are_resized_to_the_most_common(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i, size in enumerate([(20, 20), (20, 20), (31, 17), (8, 40)]):
        write_png(tmp_path / "d" / "a" / f"{i}.png", rng.integers(0, 255, size, dtype=np.uint8))
        write_png(tmp_path / "d" / "b" / f"{i}.jpg", rng.integers(0, 255, size, dtype=np.uint8))
    source = read_source(str(tmp_path / "d"))
    fmt = natural_format(source)
    assert fmt == ImageFormat((20, 20), 1)
    assert decode(source, fmt).pixels.shape == (8, 1, 20, 20)
    assert decode(source, ImageFormat((12, 16), 1)).pixels.shape == (8, 1, 12, 16)


def test_colour_modes_convert_to_the_models_channels(tmp_path: Path) -> None:
    grey = np.full((6, 6), 200, np.uint8)
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    write_png(tmp_path / "d" / "grey" / "g.png", grey)
    write_png(tmp_path / "d" / "red" / "r.png", rgba)
    source = read_source(str(tmp_path / "d"))
    assert natural_format(source).channels == 3  # one colour image makes the set RGB
    images = decode(source, ImageFormat((6, 6), 3))
    assert images.pixels[0].tolist() == np.full((3, 6, 6), 200).tolist()  # grey repeated
    assert images.pixels[1, :, 0, 0].tolist() == [255, 0, 0]  # RGBA: alpha dropped
    assert decode(source, ImageFormat((6, 6), 1)).pixels.shape == (2, 1, 6, 6)


def test_a_table_of_paths_relative_to_the_table(tmp_path: Path) -> None:
    for i, (_, image) in enumerate(digit_images(3)):
        write_png(tmp_path / "img" / f"{i}.png", image)
    rows = [f"img/{i}.png,{label}" for i, (label, _) in enumerate(digit_images(3))]
    (tmp_path / "train.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    source = read_source(str(tmp_path / "train.csv"))
    assert source.labels == ["0"] * 3 + ["1"] * 3 + ["2"] * 3
    assert len(decode(source, natural_format(source))) == 9
    lines = [
        f'{{"file": "img/{i}.png", "label": {label}}}'
        for i, (label, _) in enumerate(digit_images(3))
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"column 'path' \(data.image_column\) not found"):
        read_source(str(tmp_path / "train.jsonl"))
    assert len(read_source(str(tmp_path / "train.jsonl"), image_column="file")) == 9


def test_a_missing_file_in_a_table_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("path,label\nnope.png,a\n")
    source = read_source(str(tmp_path / "t.csv"))
    with pytest.raises(DataError, match=r"nope\.png \(.*t\.csv line 2\): cannot read this image"):
        decode(source, ImageFormat((8, 8), 1))


def _idx(path: Path, magic: int, array: np.ndarray, gz: bool) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_plain_or_gzip(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(0).integers(0, 255, (5, 28, 28), dtype=np.uint8)
    suffix = ".gz" if gz else ""
    data = _idx(tmp_path / f"images-idx3-ubyte{suffix}", 0x803, images, gz)
    labels = _idx(tmp_path / f"labels-idx1-ubyte{suffix}", 0x801, np.arange(5), gz)
    source = read_source(str(data), labels_file=str(labels))
    assert source.labels == ["0", "1", "2", "3", "4"]
    decoded = decode(source, natural_format(source))
    assert np.array_equal(decoded.pixels[:, 0], images)
    short = _idx(tmp_path / "short-idx1-ubyte", 0x801, np.arange(4), False)
    with pytest.raises(DataError, match="4 labels for 5 images"):
        read_source(str(data), labels_file=str(short))


def test_sklearn_digits_and_unknown_sets() -> None:
    source = read_source("sklearn:digits")
    assert len(source) == 1797 and natural_format(source) == ImageFormat((8, 8), 1)
    assert decode(source, ImageFormat((8, 8), 1)).pixels.max() == 255
    with pytest.raises(DataError, match=r"unknown image set 'digts'.*Did you mean 'digits'"):
        read_source("sklearn:digts")
