"""The live-training API (``/api/train``) through FastAPI's test client: a session started, stepped, checked, run,
paused and ended; every bad input a 4xx naming what was wrong."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest


def array(encoded: dict) -> np.ndarray:
    return np.asarray(encoded["data"], dtype=np.float64).reshape(encoded["shape"])


def status_when(client, session: str, done, timeout: float = 60) -> dict:
    """The session's status once ``done(status)`` holds (or after ``timeout`` seconds, for the test to fail on)."""
    deadline = time.monotonic() + timeout
    while not done(status := client.get(f"/api/train/{session}").json()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return status


@pytest.fixture
def live(client, mnist):
    """A paused 784-32-10 session (SGD at 0.1, batches of 16); ended afterwards."""
    answer = client.post("/api/train", json={"layers": [784, 32, 10], "optimizer": "sgd", "lr": 0.1,
                                             "batch_size": 16, "seed": 1})
    assert answer.status_code == 201, answer.text
    session = answer.json()["id"]
    yield session
    client.delete(f"/api/train/{session}")


def test_a_step_answers_with_its_matrices_and_sgd_is_w_minus_lr_dw(client, live):
    answer = client.post(f"/api/train/{live}/step")
    assert answer.status_code == 200, answer.text
    step = answer.json()
    assert step["step"] == 1 and len(step["batch"]) == 16 and [layer["name"] for layer in step["layers"]] == \
        ["dense_1", "dense_2"]
    x = array(step["x"])
    hidden, last = step["layers"]
    assert array(hidden["W"]).shape == (32, 784) and array(last["dZ"]).shape == (16, 10)
    for layer, a_prev in ((hidden, x), (last, array(hidden["A"]))):
        W, dW = array(layer["W"]).astype(np.float32), array(layer["dW"]).astype(np.float32)
        np.testing.assert_array_equal(array(layer["W_new"]), W - np.float32(0.1) * dW)   # float32, bit for bit
        np.testing.assert_allclose(dW, array(layer["dZ"]).T @ a_prev, rtol=1e-4, atol=1e-6)
    assert client.get(f"/api/train/{live}").json()["step"] == 1
    base64 = client.post(f"/api/train/{live}/step", params={"encoding": "base64", "rows": 4}).json()
    assert base64["step"] == 2 and base64["layers"][0]["Z"]["shape"] == [4, 32] and "base64" in base64["x"]


def test_the_check_button_compares_central_differences(client, live):
    client.post(f"/api/train/{live}/step")
    answer = client.post(f"/api/train/{live}/check", json={"layer": 0, "param": "W", "index": [3, 400]})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["relative_error"] < 1e-6 and {"numeric", "analytic"} <= set(found)
    for body, status, words in (({"layer": 5, "param": "W", "index": [0, 0]}, 409, "layer must be 0 to 1"),
                                ({"layer": 0, "param": "W", "index": [99, 0]}, 409, "index must be within"),
                                ({"layer": 0, "param": "gamma", "index": [0]}, 422, "param"),
                                ({"layer": 0, "param": "W", "index": [0], "extra": 1}, 422, "extra")):
        answer = client.post(f"/api/train/{live}/check", json=body)
        assert answer.status_code in (status, 422) and words in answer.text, (body, answer.text)


def test_run_in_the_background_pause_and_change_the_rate(client, live):
    assert client.patch(f"/api/train/{live}", json={"lr": 0.05}).json()["lr"] == 0.05
    assert client.post(f"/api/train/{live}/run", json={"steps": 30}).status_code == 202
    status_when(client, live, lambda s: s["step"] >= 30)
    status = client.get(f"/api/train/{live}").json()
    assert status["step"] == 30 and status["loss"] is not None and 0 <= status["val_accuracy"] <= 1
    history = client.get(f"/api/train/{live}/history").json()
    assert [step for step, _ in history["loss"]] == list(range(1, 31)) and history["val_accuracy"][-1][0] == 30
    assert client.post(f"/api/train/{live}/run", json={"steps": 100_000}).status_code == 202
    assert client.post(f"/api/train/{live}/step").status_code == 409          # running: pause first
    assert client.post(f"/api/train/{live}/pause").json()["running"] is False
    answer = client.post(f"/api/train/{live}/step")
    assert answer.status_code == 200, answer.text


def test_one_session_at_a_time_and_an_ended_one_is_gone(client, live):
    answer = client.post("/api/train", json={})
    assert answer.status_code == 409 and f"training session {live} is live" in answer.json()["detail"]
    assert client.delete(f"/api/train/{live}").status_code == 204
    assert client.get(f"/api/train/{live}").status_code == 404
    again = client.post("/api/train")
    assert again.status_code == 201
    client.delete(f"/api/train/{again.json()['id']}")


@pytest.mark.parametrize("body,words", [
    ({"layers": [784, 32, 10], "colour": "red"}, "colour"),
    ({"lr": 0}, "lr"), ({"lr": "fast"}, "lr"), ({"batch_size": 2048}, "batch_size"), ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"activation": "swish"}, "activation"), ({"layers": [784]}, "layers"),
    ({"layers": [100, 10]}, "layers must start with 784"), ({"layers": [784, 0, 10]}, "layer sizes"),
    ({"layers": [784, 10_000_000, 10]}, "parameters"), ({"epochs": 0}, "epochs"), ({"seed": -1}, "seed"),
])
def test_bad_settings_are_a_422_naming_them(client, mnist, body, words):
    answer = client.post("/api/train", json=body)
    assert answer.status_code == 422 and words in answer.text, answer.text


def test_nielsens_network_trains_live_and_is_saved_with_its_loss(client, mnist, tmp_path, monkeypatch):
    """The live form takes what ``matnet train`` takes for Nielsen's chapter 1: MSE on a sigmoid output, N(0, 1)
    weights. A step shows the sigmoid's output as the last layer's A, and the saved run says mse/sigmoid."""
    monkeypatch.chdir(tmp_path)
    settings = {"layers": [784, 30, 10], "activation": "sigmoid", "init": "normal", "loss": "mse",
                "output": "sigmoid", "lr": 3.0, "batch_size": 10, "seed": 6}
    answer = client.post("/api/train", json=settings)
    assert answer.status_code == 201, answer.text
    session = answer.json()["id"]
    try:
        step = client.post(f"/api/train/{session}/step").json()
        last = step["layers"][-1]
        assert last["activation"] == "Sigmoid"
        out = array(last["A"])
        assert (out > 0).all() and (out < 1).all() and not np.allclose(out.sum(axis=1), 1.0)   # no softmax
        saved = client.post(f"/api/train/{session}/save", json={"name": "nielsen"})
        assert saved.status_code == 201, saved.text
        config = (tmp_path / saved.json()["path"] / "config.toml").read_text()
        assert 'loss = "mse"' in config and 'output = "sigmoid"' in config and 'init = "normal"' in config
    finally:
        client.delete(f"/api/train/{session}")
    for body, words in (({"output": "sigmoid"}, "output sigmoid with loss cross-entropy"), ({"loss": "l1"}, "loss"),
                        ({"init": "zeros"}, "init"), ({"label_smoothing": 1.0}, "label_smoothing")):
        refused = client.post("/api/train", json=body)
        assert refused.status_code == 422 and words in refused.text, refused.text


def test_bad_commands(client, live):
    assert client.get("/api/train/nope").status_code == 404
    for body in ({"steps": 0}, {"steps": "many"}, {}):
        assert client.post(f"/api/train/{live}/run", json=body).status_code == 422
    assert client.patch(f"/api/train/{live}", json={"lr": -1}).status_code == 422
    assert client.post(f"/api/train/{live}/check", json={"layer": 0, "param": "W", "index": [0, 0]}).status_code \
        == 409     # no step taken yet
    assert client.post(f"/api/train/{live}/step", params={"rows": 0}).status_code == 422


def decoded(encoded: dict) -> np.ndarray:
    """A base64 array (``{"shape", "dtype": "<f4", "base64"}``) as NumPy."""
    import base64

    return np.frombuffer(base64.b64decode(encoded["base64"]), dtype="<f4").reshape(encoded["shape"])


def test_the_weights_as_they_are_now(client, live):
    answer = client.get(f"/api/train/{live}/weights", params={"layer": 0, "rows": 8})
    assert answer.status_code == 200, answer.text
    before = answer.json()
    assert before["step"] == 0 and before["name"] == "dense_1" and before["shape"] == [32, 784]
    assert array(before["W"]).shape == (8, 784) and array(before["b"]).shape == (8,)
    step = client.post(f"/api/train/{live}/step").json()
    np.testing.assert_array_equal(array(before["W"]), array(step["layers"][0]["W"])[:8])   # the W the step began with
    after = client.get(f"/api/train/{live}/weights", params={"encoding": "base64"}).json()   # 32 rows, the default
    assert after["step"] == 1 and after["W"]["shape"] == [32, 784]
    np.testing.assert_array_equal(decoded(after["W"]), array(step["layers"][0]["W_new"]))    # and the one it left
    last = client.get(f"/api/train/{live}/weights", params={"layer": 1, "rows": 256}).json()
    assert last["shape"] == [10, 32] and array(last["W"]).shape == (10, 32)
    for params, status in (({"layer": 2}, 422), ({"layer": -1}, 422), ({"rows": 0}, 422), ({"rows": 257}, 422),
                           ({"encoding": "png"}, 422)):
        assert client.get(f"/api/train/{live}/weights", params=params).status_code == status, params
    assert client.get("/api/train/nope/weights").status_code == 404


def test_ten_fixed_test_digits_and_their_predictions_leave_training_alone(client, live, mnist):
    answer = client.get(f"/api/train/{live}/samples")
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert first["label"] == list(range(10)) and first["step"] == 0
    assert first["index"] == [int(np.flatnonzero(mnist.test_labels == k)[0]) for k in range(10)]
    images = array(first["images"])
    np.testing.assert_allclose(images, mnist.test_images[first["index"]].reshape(10, 784) / 255.0, atol=1e-6)
    p = array(first["probabilities"])
    assert p.shape == (10, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert first["predicted"] == p.argmax(axis=1).tolist()
    base64 = client.get(f"/api/train/{live}/samples", params={"encoding": "base64"}).json()
    np.testing.assert_array_equal(decoded(base64["probabilities"]), p.astype(np.float32))

    # asking for predictions (and weights) between and during steps changes nothing the training computes: the
    # same settings and seed, stepped without being watched, end with the same weights
    client.post(f"/api/train/{live}/run", json={"steps": 40})
    deadline = time.monotonic() + 60
    while client.get(f"/api/train/{live}").json()["step"] < 40 and time.monotonic() < deadline:
        client.get(f"/api/train/{live}/samples")
        client.get(f"/api/train/{live}/weights")
    watched = array(client.get(f"/api/train/{live}/weights", params={"layer": 1, "rows": 10}).json()["W"])
    losses = client.get(f"/api/train/{live}/history").json()["loss"]
    later = client.get(f"/api/train/{live}/samples").json()
    assert later["step"] == 40 and not np.array_equal(array(later["probabilities"]), p)
    client.delete(f"/api/train/{live}")
    alone = client.post("/api/train", json={"layers": [784, 32, 10], "optimizer": "sgd", "lr": 0.1,
                                            "batch_size": 16, "seed": 1}).json()["id"]
    client.post(f"/api/train/{alone}/run", json={"steps": 40})
    status_when(client, alone, lambda s: s["step"] >= 40)
    np.testing.assert_array_equal(array(client.get(f"/api/train/{alone}/weights", params={"layer": 1, "rows": 10})
                                        .json()["W"]), watched)
    assert client.get(f"/api/train/{alone}/history").json()["loss"] == losses
    client.delete(f"/api/train/{alone}")


def test_save_writes_a_run_folder_the_other_commands_use(client, live, tmp_path, monkeypatch, capsys):
    """Save run: runs/NAME (never over anything) with the config, the epochs, the model, the predictions, the
    summary and the report; matnet evaluate and predict then work on it."""
    from matnet.cli.main import main

    monkeypatch.chdir(tmp_path)
    client.post(f"/api/train/{live}/step")
    answer = client.post(f"/api/train/{live}/save", json={"name": "mine"})
    assert answer.status_code == 201, answer.text
    saved = answer.json()
    assert saved["path"] == "runs/mine" and saved["steps"] == 1 and 0 <= saved["test_accuracy"] <= 1
    folder = tmp_path / "runs" / "mine"
    assert {"config.toml", "metrics.jsonl", "model.npz", "model.json", "predictions.npz", "summary.json",
            "report.html"} <= {p.name for p in folder.iterdir()}
    assert client.post(f"/api/train/{live}/save", json={"name": "mine"}).json()["path"] == "runs/mine-2"
    assert main(["evaluate", str(folder), "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["accuracy"] - saved["test_accuracy"]) < 1e-9
    for bad in ({"name": "../escape"}, {"name": "/etc"}, {"name": ""}, {"name": "a", "force": True}):
        assert client.post(f"/api/train/{live}/save", json=bad).status_code == 422, bad
    client.post(f"/api/train/{live}/run", json={"steps": 100_000})
    assert client.post(f"/api/train/{live}/save").status_code == 409            # running: pause first
    client.post(f"/api/train/{live}/pause")


def test_events_stream_the_status(client, live):
    with client.stream("GET", f"/api/train/{live}/events", params={"seconds": 1.2}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert 2 <= len(events) <= 4 and all(event["id"] == live for event in events)


def test_a_diverging_session_gives_the_clis_diagnosis(client, mnist):
    session = client.post("/api/train", json={"layers": [784, 32, 10], "lr": 1e30, "batch_size": 64}).json()["id"]
    try:
        client.post(f"/api/train/{session}/run", json={"steps": 50})
        status_when(client, session, lambda s: s["error"])
        status = client.get(f"/api/train/{session}").json()
        assert "the loss became nan or infinite" in status["error"]
        assert "diagnosis: the loss became NaN/infinite" in status["error"] and "fix: a lower --lr" in status["error"]
        assert status["diagnosis"][0]["kind"] == "diverged"
        check = client.post(f"/api/train/{session}/check", json={"layer": 0, "param": "W", "index": [0, 0]})
        assert check.status_code == 409 and "has stopped: the loss became nan" in check.json()["detail"]
        assert "take one step" not in check.json()["detail"]     # no step can be taken in a stopped session
    finally:
        client.delete(f"/api/train/{session}")


def test_twenty_steps_through_the_api_are_matnet_trains_twenty(client, tmp_path, mnist):
    """Same seed and settings: 20 steps driven through the HTTP API (2 one by one, 18 in the background) end with
    the weights matnet train writes after its 20 steps, bit for bit."""
    from matnet.config import TrainConfig
    from matnet.model_file import load_model
    from matnet.run import train_run

    settings = {"layers": [784, 32, 10], "optimizer": "momentum", "lr": 0.05, "batch_size": 16, "seed": 4,
                "epochs": 1, "subset": 320, "schedule": "cosine", "weight_decay": 5e-4}
    train_run(TrainConfig(**settings, val_size=10_000, writers=0.0, out=str(tmp_path / "run")), progress=False)
    session = client.post("/api/train", json=settings).json()["id"]
    try:
        client.post(f"/api/train/{session}/step")
        client.post(f"/api/train/{session}/step")
        client.post(f"/api/train/{session}/run", json={"steps": 18})
        status_when(client, session, lambda s: s["finished"])
        weights = client.get(f"/api/train/{session}/weights", params={"layer": 0, "rows": 32}).json()
        reference = load_model(tmp_path / "run" / "model")
        np.testing.assert_array_equal(np.asarray(weights["W"]["data"], np.float32),
                                      reference.layers[0].params["W"])
    finally:
        client.delete(f"/api/train/{session}")


@pytest.mark.parametrize("body", [b'{"layers": [784, 10], "lr": NaN}', b'{"lr": 1e999}', b'{"lr": -Infinity}'])
def test_a_non_finite_number_in_a_body_is_a_422_not_a_500(client, body):
    answer = client.post("/api/train", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and "finite number" in answer.text


def test_a_network_that_blew_up_stops_says_why_and_is_not_saved(client, mnist, tmp_path, monkeypatch):
    """lr 1e9: the loss explodes (huge but finite) at once; the session stops with the diagnosis, and Save refuses
    weights that are not worth keeping."""
    monkeypatch.chdir(tmp_path)
    session = client.post("/api/train", json={"layers": [784, 32, 10], "lr": 1e9}).json()["id"]
    try:
        client.post(f"/api/train/{session}/run", json={"steps": 300})
        status_when(client, session, lambda s: s["error"])
        status = client.get(f"/api/train/{session}").json()
        assert status["step"] < 10 and "the loss exploded" in status["error"] and "a lower learning rate" in \
            status["error"]
        assert status["diagnosis"][0]["kind"] == "diverged"
        saved = client.post(f"/api/train/{session}/save")
        assert saved.status_code == 409 and "diverged" in saved.json()["detail"]
        assert not (tmp_path / "runs" / "live").exists()
    finally:
        client.delete(f"/api/train/{session}")


def test_a_network_too_large_to_show_is_refused(client, mnist):
    answer = client.post("/api/train", json={"layers": [784, 10_000, 10]})
    assert answer.status_code == 422 and "at most 1,000,000 parameters" in answer.json()["detail"]
