"""Image classification end to end: train, report, package, predict, evaluate, export."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from cli_support import run_cli

import trainforge
from trainforge.errors import ConfigError, DataError
from trainforge.pipeline import Run

from .conftest import MNIST, digit_images, write_png


def _config(source: str, **sections: dict) -> dict:
    config = {
        "task": "image_classification",
        "data": {"train": source, "split": {"validation": 0.2, "test": 0.2}},
        "model": {"type": "cnn", "channels": [8, 16]},
        "train": {"epochs": 2, "batch_size": 16, "seed": 0},
    }
    for key, values in sections.items():
        config[key] = {**config[key], **values}
    return config


def test_digits_train_evaluate_and_report(digits_run: Run) -> None:
    assert digits_run.metrics["test"]["accuracy"] > 0.8
    manifest = json.loads((digits_run.package_dir / "trainforge.json").read_text())
    assert manifest["image"]["size"] == [8, 8] and manifest["image"]["channels"] == 1
    assert len(manifest["image"]["mean"]) == 1 and manifest["labels"][:2] == ["0", "1"]
    assert (digits_run.package_dir / "model.safetensors").is_file()
    report = digits_run.report_path.read_text()
    assert "Misclassified images (test)" in report
    model = trainforge.load(digits_run.model_dir)
    assert model.evaluate("sklearn:digits")["accuracy"] > 0.8


def test_predict_on_a_png_path_and_on_base64(digits_package: Path, tmp_path: Path) -> None:
    _, image = digit_images(1, classes=(7,))[0]
    png = write_png(tmp_path / "seven.png", image)
    model = trainforge.load(digits_package)
    by_path = model.predict(str(png))[0]
    encoded = base64.b64encode(png.read_bytes()).decode()
    by_b64 = model.predict([encoded, "data:image/png;base64," + encoded])
    assert by_path["probabilities"] == by_b64[0]["probabilities"] == by_b64[1]["probabilities"]
    assert model.predict(image)[0] == by_path  # a uint8 array predicts the same
    with pytest.raises(DataError, match=r"inputs\[0\]: 'not an image' is neither an image file"):
        model.predict(["not an image"])
    result = run_cli(tmp_path, ["predict", str(digits_package), str(png)])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["probabilities"] == by_path["probabilities"]


def test_onnx_export_matches_pytorch(digits_run: Run, tmp_path: Path) -> None:
    from trainforge.export import export_onnx

    report = export_onnx(digits_run.model_dir)
    assert report["models"]["fp32"]["within_tolerance"], report
    assert report["models"]["fp32"]["label_agreement"] == 1.0
    onnx_model = trainforge.load(digits_run.model_dir, onnx=True)
    torch_model = trainforge.load(digits_run.model_dir)
    a, b = onnx_model.predict("sklearn:digits"), torch_model.predict("sklearn:digits")
    assert [p["label"] for p in a] == [p["label"] for p in b]


def test_greyscale_images_feed_an_rgb_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i, (label, image) in enumerate(digit_images(10)):
        colour = np.stack([image, image // 2, rng.integers(0, 50, (8, 8), dtype=np.uint8)], -1)
        write_png(tmp_path / "data" / str(label) / f"{i}.png", colour)
    run = trainforge.train(
        _config(str(tmp_path / "data"), train={"epochs": 1}),
        output=tmp_path / "run",
        progress=False,
    )
    model = trainforge.load(run.model_dir)
    assert model.inputs.format.channels == 3
    grey = write_png(tmp_path / "grey.png", digit_images(1)[0][1])
    assert model.predict(str(grey))[0]["label"] in {"0", "1", "2"}


def test_a_corrupt_image_stops_training_unless_skipped(class_folder: Path, tmp_path: Path) -> None:
    (class_folder / "2" / "30.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"30\.png: cannot read this image"):
        trainforge.train(_config(str(class_folder)), output=tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    config = _config(str(class_folder), data={"on_bad_image": "skip"}, train={"epochs": 1})
    run = trainforge.train(config, output=tmp_path / "skip", progress=False)
    assert json.loads((run.package_dir / "trainforge.json").read_text())["train_rows"] == 21


def test_unlabelled_training_images_are_an_error(tmp_path: Path) -> None:
    for i, (_, image) in enumerate(digit_images(2)):
        write_png(tmp_path / "flat" / f"{i}.png", image)
    with pytest.raises(DataError, match="the training images have no labels"):
        trainforge.train(_config(str(tmp_path / "flat")), output=tmp_path / "r", progress=False)


def test_init_from_a_package_transfers_the_backbone(digits_package: Path, tmp_path: Path) -> None:
    for i, (label, image) in enumerate(digit_images(6, classes=(5, 6, 8))):
        write_png(tmp_path / "new" / str(label) / f"{i}.png", image)
    config = _config(
        str(tmp_path / "new"),
        model={"channels": [16, 32], "init_from": str(digits_package), "freeze": ["layer1"]},
        train={"epochs": 1},
    )
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    assert run.model.labels == ["5", "6", "8"]
    assert run.metrics["init_from_label_rows"] == 3  # 5, 6 and 8 are digits the package knew
    old = trainforge.load(digits_package).network.state_dict()
    new = run.model.network.state_dict()
    assert all(np.array_equal(old[k], new[k]) for k in new if k.startswith("layer1."))
    assert not np.array_equal(old["layer2.0.weight"], new["layer2.0.weight"])


def test_init_from_safetensors_and_a_mismatched_network(
    digits_package: Path, tmp_path: Path
) -> None:
    weights = str(digits_package / "model.safetensors")
    config = _config("sklearn:digits", model={"channels": [16, 32], "init_from": weights})
    config["data"]["label_column"] = "target"
    config["train"]["max_steps"] = 2
    run = trainforge.train(config, output=tmp_path / "ok", progress=False)
    assert run.metrics["init_from_tensors"] > 0
    config["model"]["type"] = "resnet"
    config["model"]["channels"] = None
    with pytest.raises(ConfigError, match="no weights of it fit this network"):
        trainforge.train(config, output=tmp_path / "bad", progress=False)


def test_linear_probe_trains_the_head_only(digits_package: Path, tmp_path: Path) -> None:
    config = _config(
        "sklearn:digits",
        model={"channels": [16, 32], "init_from": str(digits_package), "finetune": "frozen"},
        train={"epochs": 3},
    )
    config["data"]["label_column"] = "target"
    run = trainforge.train(config, output=tmp_path / "probe", progress=False)
    old = trainforge.load(digits_package).network.state_dict()
    new = run.model.network.state_dict()
    assert all(np.array_equal(old[k], new[k]) for k in new if not k.startswith("head."))
    assert not np.array_equal(old["head.1.weight"], new["head.1.weight"])
    assert run.metrics["test"]["accuracy"] > 0.8


def test_resnet_with_augmentation_trains(tmp_path: Path) -> None:
    config = _config(
        "sklearn:digits",
        model={"type": "resnet", "depth": 8, "channels": [8, 16, 16]},
        data={"augment": {"random_crop": 1, "rotate": 10, "noise": 0.05, "color_jitter": 0.2}},
        train={"max_steps": 4},
    )
    config["data"]["label_column"] = "target"
    run = trainforge.train(config, output=tmp_path / "resnet", progress=False)
    assert run.metrics["test"]["accuracy"] >= 0.0


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"needs {MNIST} (the shared data folder)")
def test_mnist_idx_files(tmp_path: Path) -> None:
    config = _config(
        str(MNIST / "t10k-images-idx3-ubyte.gz"),
        data={"labels": str(MNIST / "t10k-labels-idx1-ubyte.gz")},
        train={"max_steps": 3},
    )
    run = trainforge.train(config, output=tmp_path / "mnist", progress=False)
    manifest = json.loads((run.package_dir / "trainforge.json").read_text())
    assert manifest["image"]["size"] == [28, 28] and manifest["train_rows"] == 6000


def test_updating_an_image_package_is_refused_clearly(digits_run: Run) -> None:
    from trainforge.continual.update import update
    from trainforge.errors import PackageError

    with pytest.raises(PackageError, match="image packages keep no replay memory"):
        update(digits_run.model_dir, "sklearn:digits", progress=False)
