"""Hypothesis sends the predict route what a careless or hostile client might: any JSON, grids of any shape
holding any numbers (NaN, infinities, huge, negative), bytes under any content type, images of any size and
mode. Every answer is a 200 with probabilities that add up to 1, or a 4xx with a message; never a 5xx."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=30)
numbers = st.one_of(st.floats(0, 1), st.floats(allow_nan=False), st.integers(-300, 300), st.booleans(), st.none(),
                    st.text(max_size=3))


@st.composite
def grids(draw):
    """Nearly right: 27 to 29 rows of 27 to 29 values, mostly in [0, 1], sometimes not."""
    rows, cols = draw(st.integers(27, 29)), draw(st.integers(27, 29))
    base = draw(st.floats(0, 1))
    grid = [[base] * cols for _ in range(rows)]
    for _ in range(draw(st.integers(0, 3))):
        grid[draw(st.integers(0, rows - 1))][draw(st.integers(0, cols - 1))] = draw(numbers)
    return draw(st.sampled_from([grid, {"image": grid}, {"image": grid, "extra": 1}]))


def check(response):
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert abs(sum(response.json()["probabilities"]) - 1) < 1e-5
    else:
        assert 400 <= response.status_code < 500 and response.json()["detail"]


@pytest.mark.slow
@SETTINGS
@given(body=st.one_of(json_values, grids()), layers=st.booleans())
def test_any_json(client, body, layers):
    content = json.dumps(body, allow_nan=True).encode()       # infinities travel as Infinity, which JSON lacks
    check(client.post(f"/api/predict?layers={str(layers).lower()}", content=content,
                      headers={"Content-Type": "application/json"}))


@pytest.mark.slow
@SETTINGS
@given(body=st.binary(max_size=2000),
       kind=st.sampled_from(["image/png", "image/jpeg", "image/webp", "application/octet-stream", "application/json",
                             "multipart/form-data", "multipart/form-data; boundary=x", "text/plain", ""]))
def test_any_bytes(client, body, kind):
    check(client.post("/api/predict", content=body, headers={"Content-Type": kind} if kind else {}))


@pytest.mark.slow
@SETTINGS
@given(width=st.integers(1, 120), height=st.integers(1, 120), mode=st.sampled_from(["L", "RGB", "RGBA", "I;16", "1"]),
       fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]), seed=st.integers(0, 2**16), ink=st.floats(0, 1))
def test_any_image(client, width, height, mode, fmt, seed, ink):
    if fmt != "PNG" and mode not in ("L", "RGB"):
        mode = "L"
    pixels = np.random.default_rng(seed).random((height, width)) < ink
    image = Image.fromarray(np.where(pixels, 0, 255).astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    check(client.post("/api/predict", content=buffer.getvalue(), headers={"Content-Type": f"image/{fmt.lower()}"}))
