"""Serving an image model: base64 images in, the package's predictions out."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving.conftest import Server, serve

import trainforge

from .conftest import digit_images, write_png


@pytest.fixture(scope="module")
def server(digits_package: Path) -> Iterator[Server]:
    yield from serve(digits_package)


def _post(server: Server, inputs: list) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/predict", json={"inputs": inputs}, timeout=60)


def test_base64_images_get_the_packages_predictions(
    server: Server, digits_package: Path, tmp_path: Path
) -> None:
    pngs = [write_png(tmp_path / f"{i}.png", image) for i, (_, image) in enumerate(digit_images(2))]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in pngs]
    response = _post(server, encoded)
    assert response.status_code == 200, response.text
    expected = trainforge.load(digits_package).predict([str(p) for p in pngs])
    got = response.json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    schema = httpx.get(f"{server.url}/v1/metadata").json()["input_schema"]
    assert schema["contentEncoding"] == "base64"


@pytest.mark.parametrize(
    ("inputs", "loc", "fragment"),
    [
        (["%%% not base64"], ["body", "inputs", 0], "neither an image file nor base64"),
        ([{"path": "/etc/passwd"}], ["body", "inputs", 0], "image models take a base64"),
        ([base64.b64encode(b"plain bytes").decode()], ["body", "inputs"], "cannot read this image"),
    ],
)
def test_bad_images_are_a_422(server: Server, inputs: list, loc: list, fragment: str) -> None:
    response = _post(server, inputs)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and fragment in error["msg"], error
