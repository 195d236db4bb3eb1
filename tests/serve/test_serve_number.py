"""``POST /api/number``: an uploaded number read digit by digit, as ``matnet predict --multi`` reads it, and what
it refuses (JSON, a page with no digit, what is not an image or too large)."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matnet.data.images.number import UNSURE
from matnet.model import Sequential
from matnet.nn.dense import Dense

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from hard_digits import number_page  # noqa: E402

DIGITS = [18, 2, 8, 0, 3]        # MNIST test images 3, 1, 5, 7, 0: the photo of 31570 of issue 35


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def unsure_file(tmp_path_factory):
    """A Dense(784, 10) with zero weights: every class 10% for every digit."""
    model = Sequential([Dense(784, 10)])
    model.layers[0].params["W"][:] = 0.0
    model.layers[0].params["b"][:] = 0.0
    stem = tmp_path_factory.mktemp("number") / "unsure"
    model.save(stem)
    return stem.with_suffix(".npz")


@pytest.fixture(scope="module")
def client(default_run, unsure_file):
    """The demo's trained network (the page's default) and the unsure one."""
    from fastapi.testclient import TestClient

    from matnet.serve import create_app, load_models
    from matnet.serve.guards import LOOPBACK_NAMES

    with TestClient(create_app(load_models([default_run[0], unsure_file]), hosts=LOOPBACK_NAMES),
                    base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def number(mnist) -> tuple[bytes, str, tuple[int, int]]:
    """31570 written by code (digits apart), as PNG bytes, with its truth and its size."""
    page = number_page(list(mnist.test_images[DIGITS]), np.random.default_rng(0), touching=0)
    return png(page), "".join(str(label) for label in mnist.test_labels[DIGITS]), page.size


def test_a_number_is_read_digit_by_digit(client, number):
    data, truth, (width, height) = number
    answers = [client.post("/api/number", content=data, headers={"Content-Type": "image/png"}),
               client.post("/api/number?encoding=base64", files={"file": ("31570.png", data, "image/png")})]
    for response in answers:
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["model"] == "default" and result["number"] == truth == "31570"
        assert result["classes"] == [str(d) for d in range(10)] and "warning" not in result
        digits = result["digits"]
        assert "".join(d["label"] for d in digits) == truth and [d["class_index"] for d in digits] == [3, 1, 5, 7, 0]
        xs = [d["box"]["x"] for d in digits]
        assert xs == sorted(xs)
        for digit in digits:
            box = digit["box"]
            assert 0 <= box["x"] and box["x"] + box["width"] <= width
            assert 0 <= box["y"] and box["y"] + box["height"] <= height
            assert math.isclose(sum(digit["probabilities"]), 1.0, rel_tol=1e-5)
            assert digit["input"]["shape"] == [28, 28]
    assert "data" in answers[0].json()["digits"][0]["input"] and "base64" in answers[1].json()["digits"][0]["input"]


def test_a_model_unsure_of_its_digits_says_so(client, number):
    result = client.post("/api/number?model=unsure", content=number[0], headers={"Content-Type": "image/png"}).json()
    assert result["model"] == "unsure" and len(result["digits"]) == 5
    assert result["warning"].startswith(f"digits 1 (10.0%), 2 (10.0%), 3 (10.0%), 4 (10.0%), 5 (10.0%) read with "
                                        f"under {100 * UNSURE:.0f}% confidence")


REFUSED = [
    (b'{"image": [[0]]}', "application/json", 415, "application/json: a number is read from an image: send "
                                                   "image/png, image/jpeg or image/webp"),
    (b"not an image at all", "image/png", 415, "not a PNG, JPEG or WebP image"),
    (png(Image.new("L", (300, 200), "white")), "image/png", 422, "no digit found"),
    (png(Image.new("L", (5000, 4000), "white")), "image/png", 413, "the limit is 16 megapixels"),
    (b"", "image/png", 400, "the upload is empty"),
]


@pytest.mark.parametrize("body, kind, status, message", REFUSED, ids=range(len(REFUSED)))
def test_what_is_not_a_number_is_refused_with_one_message(client, body, kind, status, message):
    response = client.post("/api/number", content=body, headers={"Content-Type": kind})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and message in detail


def test_an_unknown_model_is_404(client, number):
    response = client.post("/api/number?model=nope", content=number[0], headers={"Content-Type": "image/png"})
    assert response.status_code == 404 and "nope" in response.json()["detail"]
