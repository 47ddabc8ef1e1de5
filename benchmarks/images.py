"""Image classification: MNIST and digits CNNs, transfer learning, augmentation, MobileNetV2.

    python benchmarks/images.py [--only mnist digits transfer mobilenet] [--out FILE]

mnist      MNIST t10k (../shared/data/mnist_t10k), seeded split 8,000 (7,000 train + 1,000
           validation) / 2,000 test; examples/mnist.yaml (a small CNN on the CPU).
digits     scikit-learn digits; examples/digits.yaml.
transfer   a CNN pretrained on digits 0-4 (all their images), then 20 images per class of
           5-9 (seeded draw; --per-class), tested on every other 5-9 image: `model.init_from`
           the 0-4 package vs from scratch, each with and without augmentation (--augment),
           over --seeds draws.
transfer_mnist  the same on MNIST t10k (examples/mnist.yaml's CNN, without its augmentation).
mobilenet  MNIST as RGB, 50 images per class (seeded draw) upscaled to --size pixels, tested on
           2,000 other t10k images: the ImageNet MobileNetV2 as a linear probe and fine-tuned,
           against the CNN from scratch on the same 500 images.

Writes one JSON file (default benchmarks/results/images.json): accuracy, train time and epochs
of every run, with the configs.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import trainforge
from trainforge.data.images import read_idx

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist_t10k"
RESULTS = REPO / "benchmarks" / "results" / "images.json"
SMALL_TRAIN = {"split": {"validation": 0.0, "test": 0.0}}


def _example(name: str) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    for key in ("train", "labels"):  # paths in the examples are relative to the repo
        value = config["data"].get(key)
        if value and not value.startswith("sklearn:"):
            config["data"][key] = str(REPO / value)
    return config


def _run(config: dict[str, Any], folder: Path, name: str) -> dict[str, Any]:
    start = time.perf_counter()
    run = trainforge.train(config, output=folder / name, overwrite=True, progress=False)
    metrics = run.metrics
    return {
        "test_accuracy": round(metrics["test"]["accuracy"], 4),
        "test_f1_macro": round(metrics["test"]["f1_macro"], 4),
        "train_time_s": metrics["train_time_s"],
        "wall_s": round(time.perf_counter() - start, 1),
        "epochs_run": metrics.get("epochs_run"),
        "train_rows": json.loads((run.package_dir / "trainforge.json").read_text())["train_rows"],
        "config": _portable(config, folder),
    }


def _portable(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The config with the temporary folder and the repository left out of its paths."""
    text = json.dumps(config)
    for path, name in ((folder, "<tmp>"), (REPO, ".")):
        text = text.replace(str(path), name)
    return json.loads(text)


def _write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> str:
    """Class folders of PNGs (what users bring), from uint8 images (n, h, w)."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    return str(root)


def _per_class(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions of n seeded random images per class."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def mnist(folder: Path) -> dict[str, Any]:
    return _run(_example("mnist"), folder, "mnist")


def digits(folder: Path) -> dict[str, Any]:
    return _run(_example("digits"), folder, "digits")


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.rint(data.images * (255 / 16)).astype(np.uint8), data.target


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(MNIST / "t10k-images-idx3-ubyte.gz", "mnist images")
    return images, read_idx(MNIST / "t10k-labels-idx1-ubyte.gz", "mnist labels")


def transfer(
    folder: Path,
    data_name: str,
    seeds: list[int],
    epochs: int,
    per_class: int,
    augment: dict[str, Any],
) -> dict[str, Any]:
    images, targets = _digits() if data_name == "digits" else _mnist()
    folder = folder / f"transfer_{data_name}"
    old = targets < 5
    base = _example(data_name)
    base["data"] = {"train": _write_folder(folder / "old", images[old], targets[old])}
    pretrained = _run(base, folder, "pretrain_0_4")
    package = str(folder / "pretrain_0_4" / "model")
    results: dict[str, Any] = {
        "data": data_name,
        "per_class": per_class,
        "augment": augment,
        "pretrain_0_4": pretrained,
        "runs": {},
    }
    new = np.flatnonzero(~old)
    for seed in seeds:
        chosen = new[_per_class(targets[new], per_class, seed)]
        rest = np.setdiff1d(new, chosen)
        train = _write_folder(folder / f"new_{per_class}_{seed}", images[chosen], targets[chosen])
        test = _write_folder(folder / f"test_{per_class}_{seed}", images[rest], targets[rest])
        for name, model, extra in (
            ("scratch", {}, {}),
            ("scratch_augment", {}, {"augment": augment}),
            ("init_from", {"init_from": package}, {}),
            ("init_from_augment", {"init_from": package}, {"augment": augment}),
        ):
            config = {
                **base,
                "data": {"train": train, "test": test, **SMALL_TRAIN, **extra},
                "model": {**base["model"], **model},
                "train": {**base["train"], "epochs": epochs, "early_stopping": None},
            }
            run = _run(config, folder, f"{name}_{per_class}_{seed}")
            results["runs"].setdefault(name, []).append(run)
    results["mean_test_accuracy"] = {
        name: round(float(np.mean([r["test_accuracy"] for r in runs])), 4)
        for name, runs in results["runs"].items()
    }
    return results


def mobilenet(folder: Path, size: int, epochs: int) -> dict[str, Any]:
    images, labels = _mnist()
    train = _per_class(labels, 50, 0)
    rest = np.setdiff1d(np.arange(len(labels)), train)
    test = np.random.default_rng(1).choice(rest, 2000, replace=False)
    train_dir = _write_folder(folder / "mnist50", images[train], labels[train])
    test_dir = _write_folder(folder / "mnist_test", images[test], labels[test])
    data = {"train": train_dir, "test": test_dir, "split": {"validation": 0.1, "test": 0.0}}
    runs = {
        "cnn_scratch": {"type": "cnn", "channels": [32, 64, 128], "dropout": 0.2},
        "mobilenet_v2_frozen": {"type": "mobilenet_v2", "finetune": "frozen"},
        "mobilenet_v2_full": {"type": "mobilenet_v2", "finetune": "full"},
    }
    results = {}
    for name, model in runs.items():
        rgb = model["type"] == "mobilenet_v2"
        config = {
            "task": "image_classification",
            "data": {**data, **({"image_size": size, "channels": 3} if rgb else {})},
            "model": model,
            "train": {"epochs": 100 if model.get("finetune") == "frozen" else epochs, "seed": 42},
        }
        if model.get("finetune") == "full":
            config["train"]["lr"] = 3e-4
        results[name] = _run(config, folder, name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        default=["mnist", "digits", "transfer", "transfer_mnist", "mobilenet"],
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--transfer-epochs", type=int, default=100)
    parser.add_argument("--per-class", nargs="+", type=int, default=[20], help="transfer")
    parser.add_argument(
        "--augment",
        type=json.loads,
        default=None,
        help='transfer, as JSON; default {"random_crop": 1} for digits (8x8), '
        '{"random_crop": 2, "rotate": 10} for MNIST (as examples/mnist.yaml)',
    )
    parser.add_argument("--size", type=int, default=64, help="MobileNetV2 input side")
    parser.add_argument("--mobilenet-epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "threads": __import__("torch").get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        for name in args.only:
            start = time.perf_counter()
            if name == "mnist":
                results[name] = mnist(folder)
            elif name == "digits":
                results[name] = digits(folder)
            elif name in ("transfer", "transfer_mnist"):
                data_name = "digits" if name == "transfer" else "mnist"
                augment = args.augment or (
                    {"random_crop": 1}
                    if data_name == "digits"
                    else {"random_crop": 2, "rotate": 10}
                )
                for n in args.per_class:
                    key = name if n == 20 else f"{name}_{n}_per_class"
                    results[key] = transfer(
                        folder, data_name, args.seeds, args.transfer_epochs, n, augment
                    )
            elif name == "mobilenet":
                results[name] = mobilenet(folder, args.size, args.mobilenet_epochs)
            print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(_summary(results), indent=2))


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, value in results.items():
        if not isinstance(value, dict):
            continue
        if "test_accuracy" in value:
            summary[name] = value["test_accuracy"]
        elif "mean_test_accuracy" in value:
            summary[name] = value["mean_test_accuracy"]
        else:
            summary[name] = {k: v["test_accuracy"] for k, v in value.items()}
    return summary


if __name__ == "__main__":
    main()
