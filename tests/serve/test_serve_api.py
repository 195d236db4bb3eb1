"""The JSON API through FastAPI's test client: every route with good requests, and bad requests of every kind
answered with a 4xx and a message, never a 500."""

from __future__ import annotations

import asyncio
import base64
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from matnet.data.images import MAX_PIXELS, ImageError, decode_gray, gray_from_image, to_mnist
from matnet.runfolder import load_model
from matnet.serve import MAX_BODY_BYTES, MAX_IMAGE_PIXELS, BadRequest
from matnet.serve.inputs import pixels_from_image
from matnet.serve.app import BodyLimit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from hard_digits import number_page, shadow_edge_page  # noqa: E402


def drawn_seven(size=200, mode="L", fmt="PNG", **save) -> bytes:
    """A "7" drawn dark on light paper, as a photo or the page's pad would send it."""
    image = Image.new(mode, (size, size), "white")
    ImageDraw.Draw(image).line([(size * 0.3, size * 0.2), (size * 0.7, size * 0.2), (size * 0.45, size * 0.85)],
                               fill="black", width=max(2, size // 14))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def image_bytes(image: Image.Image, fmt="PNG", **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def as_array(encoded: dict) -> np.ndarray:
    if "base64" in encoded:
        return np.frombuffer(base64.b64decode(encoded["base64"]), "<f4").reshape(encoded["shape"])
    return np.asarray(encoded["data"], dtype=np.float64).reshape(encoded["shape"])


@pytest.fixture(scope="module")
def seven(mnist) -> list[list[float]]:
    """The first "7" of the MNIST test set as 28 rows of values in [0, 1]."""
    index = int(np.flatnonzero(mnist.test_labels == 7)[0])
    return (mnist.test_images[index] / 255.0).tolist()


@pytest.fixture(scope="module")
def mlp(tiny_run):
    return load_model(tiny_run)


# --- the routes ---------------------------------------------------------------------------------------------------
def test_health(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": ["tiny", "little-cnn"]}


def test_models_lists_both_with_their_figures(client, tiny_run):
    models = client.get("/api/models").json()
    assert [m["name"] for m in models] == ["tiny", "little-cnn"]
    tiny, cnn = models
    assert tiny["kind"] == "mlp" and tiny["parameters"] == 109_386 and tiny["explainable"] is True
    assert 0.3 < tiny["test_accuracy"] <= 1 and tiny["test_loss"] > 0 and tiny["path"] == tiny_run.name
    assert cnn["kind"] == "cnn" and cnn["test_accuracy"] is None and cnn["explainable"] is False
    assert cnn["input_shape"] == [1, 28, 28] and cnn["classes"] == [str(d) for d in range(10)]


def test_model_detail_gives_the_layers_in_order_with_shapes(client, mlp):
    info = client.get("/api/models/tiny").json()
    rows = info["layers"]
    assert [r["name"] for r in rows] == ["dense_1", "relu_1", "dense_2", "relu_2", "dense_3"]
    assert rows[0] == {**rows[0], "type": "Dense", "input": "input", "input_shape": [784], "output_shape": [128],
                       "parameters": 100_480, "params": {"W": [128, 784], "b": [128]}, "operation": "z = x @ W.T + b"}
    assert [r["input"] for r in rows[1:]] == ["dense_1", "relu_1", "dense_2", "relu_2"]
    assert "Total params: 109,386" in info["summary"]
    dead = info["dead_units"]           # 0 for every one of the first 1,000 training images (the page says so)
    assert dead["images"] == 1000 and dead["dataset"] == "mnist" and set(dead["units"]) == {"relu_1", "relu_2"}
    cnn = client.get("/api/models/little-cnn").json()["layers"]
    assert [r["type"] for r in cnn][:4] == ["Conv2D", "BatchNorm", "MaxPool2D", "ReLU"]
    assert cnn[0]["output_shape"] == [4, 28, 28] and cnn[3]["output_shape"] == [4, 14, 14]


def test_unknown_model_is_404_everywhere(client, seven):
    for response in (client.get("/api/models/nope"), client.get("/api/models/nope/layers/dense_1"),
                     client.post("/api/predict?model=nope", json=seven),
                     client.get("/api/test-images/random?model=nope")):
        assert response.status_code == 404
        assert "no model named 'nope'" in response.json()["detail"]


@pytest.mark.parametrize("encoding", ["list", "base64"])
def test_layer_weights_are_the_models(client, mlp, encoding):
    found = client.get(f"/api/models/tiny/layers/dense_2?encoding={encoding}").json()
    W, b = mlp.layers[2].params["W"], mlp.layers[2].params["b"]
    assert found["name"] == "dense_2" and found["arrays"]["W"]["shape"] == [64, 128]
    exact = encoding == "base64"
    np.testing.assert_allclose(as_array(found["arrays"]["W"]), W, rtol=0, atol=0 if exact else 5e-7)
    np.testing.assert_allclose(as_array(found["arrays"]["b"]), b, rtol=0, atol=0 if exact else 5e-7)


def test_layer_weights_refusals(client):
    assert client.get("/api/models/tiny/layers/conv9").status_code == 404
    assert client.get("/api/models/tiny/layers/dense_1?encoding=hex").status_code == 422
    batchnorm = client.get("/api/models/little-cnn/layers/batchnorm_1").json()
    assert set(batchnorm["arrays"]) == {"gamma", "beta"} and set(batchnorm["buffers"]) == {"running_mean",
                                                                                            "running_var"}


def test_test_images(client, mnist):
    first = client.get("/api/test-images/0").json()
    assert first["index"] == 0 and first["label"] == str(mnist.test_labels[0]) and first["dataset"] == "mnist"
    np.testing.assert_allclose(first["image"], mnist.test_images[0] / 255.0, atol=5e-5)
    for _ in range(5):
        sample = client.get("/api/test-images/random?label=3").json()
        assert sample["label"] == "3" and mnist.test_labels[sample["index"]] == 3
    assert client.get("/api/test-images/10000").status_code == 404
    assert client.get("/api/test-images/-1").status_code == 404
    assert client.get("/api/test-images/random?label=12").status_code == 404
    assert client.get("/api/test-images/random?label=-1").status_code == 422
    assert client.get("/api/test-images/seven").status_code == 422


def test_test_images_without_the_cache_is_503(tmp_path, monkeypatch, tiny_run):
    from fastapi.testclient import TestClient

    from matnet.serve import create_app, load_models

    monkeypatch.setenv("MATNET_CACHE", str(tmp_path / "empty"))
    response = TestClient(create_app(load_models([tiny_run])), base_url="http://localhost").get("/api/test-images/random")
    assert response.status_code == 503 and "matnet data fetch mnist" in response.json()["detail"]


# --- predictions --------------------------------------------------------------------------------------------------
def test_predict_json_array_matches_the_model(client, mlp, seven):
    expected = mlp.predict_proba(np.asarray(seven, np.float32).reshape(1, 784))[0]
    for body in (seven, {"image": seven}):
        result = client.post("/api/predict", json=body).json()
        assert result["model"] == "tiny" and result["classes"] == [str(d) for d in range(10)]
        np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-6)
        assert result["class_index"] == int(expected.argmax()) and result["label"] == str(expected.argmax())
        assert abs(sum(result["probabilities"]) - 1) < 1e-5
        assert "input" not in result and "layers" not in result and "attribution" not in result


def test_predict_with_layers_is_the_matrix_product(client, mlp, seven):
    result = client.post("/api/predict?layers=true&encoding=base64", json=seven).json()
    np.testing.assert_array_equal(as_array(result["input"]), np.float32(seven))      # what the model saw
    outputs = {layer["name"]: as_array(layer["output"]) for layer in result["layers"]}
    assert list(outputs) == ["dense_1", "relu_1", "dense_2", "relu_2", "dense_3"]
    x = np.asarray(seven, np.float64).reshape(784)
    W, b = mlp.layers[0].params["W"].astype(np.float64), mlp.layers[0].params["b"]
    np.testing.assert_allclose(outputs["dense_1"], x @ W.T + b, atol=1e-4)           # z = x @ W.T + b
    np.testing.assert_array_equal(outputs["relu_1"], np.maximum(outputs["dense_1"], 0))
    logits = outputs["dense_3"]
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(result["probabilities"], softmax, atol=1e-6)


def test_predict_cnn_layers_are_feature_maps(client, seven):
    result = client.post("/api/predict?model=little-cnn&layers=true", json=seven).json()
    shapes = {layer["name"]: layer["output"]["shape"] for layer in result["layers"]}
    assert shapes["conv2d_1"] == [4, 28, 28] and shapes["maxpool2d_2"] == [8, 7, 7] and shapes["dense_2"] == [10]
    assert result["model"] == "little-cnn"


def test_explain_gives_gradient_times_input(client, seven):
    result = client.post("/api/predict?explain=true", json=seven).json()
    attribution = as_array(result["attribution"])
    assert attribution.shape == (28, 28)
    assert np.all(attribution[np.asarray(seven) == 0] == 0)          # no ink, no push either way
    assert np.abs(attribution).sum() > 0
    refused = client.post("/api/predict?model=little-cnn&explain=true", json=seven)
    assert refused.status_code == 422 and "BatchNorm" in refused.json()["detail"]


def test_predict_image_uploads_are_preprocessed_like_matnet_predict(client, mlp):
    png = drawn_seven()
    expected_field = to_mnist(gray_from_image(Image.open(io.BytesIO(png))))
    expected = mlp.predict_proba(expected_field.reshape(1, 784))[0]
    answers = [client.post("/api/predict", content=png, headers={"Content-Type": "image/png"}),
               client.post("/api/predict", files={"file": ("seven.png", png, "image/png")}),
               client.post("/api/predict", files={"upload": ("seven.png", png, "application/octet-stream")},
                           data={"note": "any other field is ignored"})]
    for response in answers:
        assert response.status_code == 200, response.text
        result = response.json()
        np.testing.assert_allclose(as_array(result["input"]), expected_field, atol=5e-7)
        np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5)
        assert result["source"] == {"width": 200, "height": 200, "format": "PNG", "marks": 1}
        assert "warning" not in result
    jpeg = client.post("/api/predict", content=drawn_seven(mode="RGB", fmt="JPEG", quality=90),
                       headers={"Content-Type": "image/jpeg"})
    assert jpeg.status_code == 200 and jpeg.json()["source"]["format"] == "JPEG"


def test_a_number_uploaded_is_read_with_a_warning_and_a_shadow_edge_is_background(client, mnist):
    """Issue 35 on the page: 31570 was read 0 without a word, and a digit under a shadow's edge was 'no digit
    found (the image is blank or has no contrast)'."""
    number = number_page(list(mnist.test_images[[18, 2, 8, 0, 3]]), np.random.default_rng(0), touching=0)
    result = client.post("/api/predict", files={"file": ("31570.png", image_bytes(number), "image/png")}).json()
    assert result["source"]["marks"] == 5
    assert result["warning"] == ("this image holds 5 digit-sized marks: it is read here as one digit "
                                 "(matnet predict --multi reads a number)")
    shadowed = shadow_edge_page(mnist.test_images[18], np.random.default_rng(0))
    response = client.post("/api/predict", content=image_bytes(shadowed, "JPEG"),
                           headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert "warning" not in response.json()


def test_uploads_stay_in_memory(client, monkeypatch):
    """A 3 MB upload (over the 1 MB at which Starlette's spooled files go to disk by default) is never written."""
    rolled = []
    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", lambda self: rolled.append(self))
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1800, 1800), dtype=np.uint8))
    png = image_bytes(noisy)
    assert 2_000_000 < len(png) < MAX_BODY_BYTES
    response = client.post("/api/predict", files={"file": ("noise.png", png, "image/png")})
    assert response.status_code in (200, 422)
    assert rolled == []


def test_model_files_are_only_read(client, tiny_run, seven):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()}
    client.post("/api/predict?layers=true&explain=true", json=seven)
    client.post("/api/predict", content=drawn_seven(), headers={"Content-Type": "image/png"})
    client.get("/api/models/tiny/layers/dense_1")
    assert {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()} == before


# --- bad requests ------------------------------------------------------------------------------------------------
ROW = [0.0] * 28


def grid(value=None, at=(27, 27)):
    rows = [list(ROW) for _ in range(28)]
    if value is not None:
        rows[at[0]][at[1]] = value
    return rows


BIG_WHITE = image_bytes(Image.new("L", (5000, 4000), "white"))     # 20 megapixels in a few kB
BAD_JSON = [
    (b"", 400, "the body is empty"),
    (b"{", 400, "malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    (b"NaN", 400, "NaN and Infinity are not numbers JSON allows"),
    (b"[[Infinity]]", 400, "NaN and Infinity are not numbers JSON allows"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
    (b"7", 422, "got a JSON number"),
    (b'"seven"', 422, "got a JSON string"),
    (b"null", 422, "got JSON null"),
    (b"[]", 422, "got a list of 0 rows"),
    (str(grid()[:27]).encode(), 422, "got a list of 27 rows"),
    (str([ROW] * 27 + [ROW + [0.0]]).encode(), 422, "row 27: expected 28 numbers"),
    (str([ROW] * 27 + [[ROW] * 28]).encode(), 422, "pixel (27, 0): expected a number"),
    (b'{"pixels": []}', 422, "got an object with the keys ['pixels']"),
    (b'{"image": 1}', 422, "got a JSON number"),
    (str(grid(1.5)).encode(), 422, "pixel (27, 27) = 1.5: values must lie in [0, 1]"),
    (str(grid(-0.01)).encode(), 422, "= -0.01: values must lie in [0, 1]"),
    (str(grid(255)).encode(), 422, "= 255: values must lie in [0, 1]"),
    (str(grid(1e999)).replace("inf", "1e999").encode(), 400, "number is infinity"),
    (str(grid(10 ** 400)).encode(), 400, "malformed JSON"),
    (str(grid(2 ** 62)).encode(), 422, "= 4611686018427387904: values must lie in [0, 1]"),
    (str(grid()).replace("0.0]]", "true]]").encode(), 422, "got true"),
    (str(grid()).replace("0.0]]", '"0.5"]]').encode(), 422, 'got "0.5"'),
    (str(grid()).replace("0.0]]", "null]]").encode(), 422, "got null"),
]


@pytest.mark.parametrize("body, status, message", BAD_JSON, ids=range(len(BAD_JSON)))
def test_bad_json_is_a_4xx_with_a_message(client, body, status, message):
    response = client.post("/api/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


BAD_UPLOADS = [
    (b"not an image at all", "image/png", 415, "not a PNG, JPEG or WebP image"),
    (drawn_seven()[:300], "image/png", 422, "cannot decode the image"),
    (drawn_seven(fmt="GIF"), "image/png", 415, "not a PNG, JPEG or WebP image"),
    (drawn_seven(fmt="BMP"), "application/octet-stream", 415, "not a PNG, JPEG or WebP image"),
    (image_bytes(Image.new("L", (1, 1))), "image/png", 422, "too small for a digit"),
    (image_bytes(Image.new("L", (300, 200), "white")), "image/png", 422, "no digit found"),
    (image_bytes(Image.new("RGBA", (100, 100), (0, 0, 0, 0))), "image/png", 422, "no digit found"),
    (BIG_WHITE, "image/png", 413, "the image is 5000x4000 pixels (20 megapixels); the limit is 16 megapixels"),
    (b"", "image/jpeg", 400, "the upload is empty"),
    (drawn_seven(), "text/plain", 415, "text/plain: send application/json"),
    (drawn_seven(), "", 415, "no Content-Type"),
]


@pytest.mark.parametrize("body, kind, status, message", BAD_UPLOADS, ids=range(len(BAD_UPLOADS)))
def test_bad_uploads_are_a_4xx_with_a_message(client, body, kind, status, message):
    headers = {"Content-Type": kind} if kind else {}
    response = client.post("/api/predict", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]



def test_an_upload_is_decoded_by_the_one_decoder_with_the_servers_limit():
    """The server has no decoder of its own: its refusal is the decoder's ImageError, word for word, with the
    server's lower pixel limit passed in, and its status chosen by the error's kind."""

    assert MAX_IMAGE_PIXELS < 5000 * 4000 < MAX_PIXELS
    decode_gray(io.BytesIO(BIG_WHITE), "upload")                                # the command line would read it
    for body, status in ((BIG_WHITE, 413), (drawn_seven(fmt="GIF"), 415), (drawn_seven()[:300], 422)):
        with pytest.raises(ImageError) as decoded:
            decode_gray(io.BytesIO(body), "upload", max_pixels=MAX_IMAGE_PIXELS, formats=("PNG", "JPEG", "WEBP"))
        with pytest.raises(BadRequest) as refused:
            pixels_from_image(body, "upload")
        assert (refused.value.status, refused.value.message) == (status, str(decoded.value))


def test_bad_forms(client):
    no_file = client.post("/api/predict", data={"a": "b"}, files={"x": ("", b"", "")})
    assert no_file.status_code in (400, 422)
    only_fields = client.post("/api/predict", content=b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb"
                              b"\r\n--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert only_fields.status_code == 422 and "the form has no file" in only_fields.json()["detail"]
    no_boundary = client.post("/api/predict", content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["detail"]
    two_files = client.post("/api/predict", files=[("file", ("a.png", drawn_seven(), "image/png")),
                                                   ("file", ("b.png", drawn_seven(), "image/png"))])
    assert two_files.status_code == 400 and "Too many files" in two_files.json()["detail"]


def test_query_parameters_are_checked(client, seven):
    for query in ("layers=maybe", "explain=2", "encoding=hex"):
        response = client.post(f"/api/predict?{query}", json=seven)
        assert response.status_code == 422, query


def test_body_over_the_limit_is_413_by_length_and_by_count(client):
    big = b"0" * (MAX_BODY_BYTES + 1)
    by_length = client.post("/api/predict", content=big, headers={"Content-Type": "image/png"})
    assert by_length.status_code == 413 and "the limit is 5,242,880 bytes (5 MiB)" in by_length.json()["detail"]

    def chunks():   # no Content-Length: the body arrives chunked and is counted as it comes
        for _ in range(6):
            yield b"0" * 2**20

    chunked = client.post("/api/predict", content=chunks(), headers={"Content-Type": "image/png"})
    assert chunked.status_code == 413 and "the body is over" in chunked.json()["detail"]
    at_limit = client.post("/api/predict", content=b"0" * MAX_BODY_BYTES, headers={"Content-Type": "image/png"})
    assert at_limit.status_code == 415      # read in full, then refused for what it is


def test_body_limit_refuses_a_content_length_that_is_not_a_number():
    sent = []

    async def app(scope, receive, send):     # never reached
        raise AssertionError("the request went through")

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"12ab")]}
    asyncio.run(BodyLimit(app, limit=10)(scope, receive, send))
    assert sent[0]["status"] == 400


def test_after_a_burst_of_bad_requests_the_server_still_answers_correctly(client, seven):
    good = client.post("/api/predict?layers=true", json=seven).json()
    statuses = []
    for k in range(120):
        body, status, _ = BAD_JSON[k % len(BAD_JSON)]
        statuses.append(client.post("/api/predict", content=body,
                                    headers={"Content-Type": "application/json"}).status_code)
        upload, kind, _, _ = BAD_UPLOADS[k % len(BAD_UPLOADS)]
        statuses.append(client.post("/api/predict", content=upload, headers={"Content-Type": kind}).status_code)
    assert all(400 <= s < 500 for s in statuses)
    assert client.get("/api/health").json()["status"] == "ok"
    again = client.post("/api/predict?layers=true", json=seven).json()
    assert again["probabilities"] == good["probabilities"] and again["layers"] == good["layers"]


def test_page_and_docs_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text and "/docs-static/swagger-ui-bundle.js" in docs.text
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/api/health", "/api/models", "/api/models/{name}", "/api/predict"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "image/png", "image/jpeg", "multipart/form-data"} <= set(body)


@pytest.mark.parametrize("dataset", ["../escape", "/etc/passwd", "UPPER"])
def test_a_model_naming_an_impossible_dataset_gets_422_not_503(tmp_path, dataset):
    """The model file's dataset name cannot name any dataset: a 4xx about the model, not 'not in the cache'."""
    from fastapi.testclient import TestClient

    from matnet.architectures import build_mlp
    from matnet.serve import create_app, load_models
    from matnet.serve.guards import LOOPBACK_NAMES

    build_mlp([784, 8, 10], preprocessing={"dataset": dataset}).save(tmp_path / "odd")
    app = create_app(load_models([tmp_path / "odd.npz"]), hosts=LOOPBACK_NAMES)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.get("/api/test-images/random")
    assert answer.status_code == 422 and "use lowercase letters" in answer.json()["detail"]
