"""Live training (``matnet.serve.live``): matnet train's own steps, held at step boundaries, and one step laid out
as the matrices of its formulas."""

from __future__ import annotations

import time

import numpy as np
import pytest

from matnet.config import TrainConfig
from matnet.errors import MatnetError
from matnet.model_file import load_model
from matnet.run import train_run
from matnet.serve.live import LiveSession, LossLog


def settings(**changes) -> TrainConfig:
    values = {"layers": [784, 32, 10], "optimizer": "sgd", "lr": 0.1, "batch_size": 16, "subset": 320,
              "val_size": 1000, "epochs": 1, "schedule": "constant", "weight_decay": 0.0, "seed": 3,
              "writers": 0.0}   # as the server's sessions: each step's X is the batch as it is
    return TrainConfig(**{**values, **changes})


def wait_for(session, steps, timeout=60):
    deadline = time.monotonic() + timeout
    while session.steps < steps and time.monotonic() < deadline and session._thread.is_alive():
        time.sleep(0.01)
    return session.steps


@pytest.fixture
def session(mnist):
    one = LiveSession(settings())
    yield one
    one.close()


def test_twenty_live_steps_are_matnet_trains_twenty_steps(tmp_path, mnist):
    """Same settings and seed: the weights after 20 steps (one epoch of 320 images, 16 at a time) are the same bits
    as the run folder's model, whether the steps ran in the background, one by one, or both."""
    config = settings(weight_decay=5e-4, optimizer="momentum", schedule="cosine")
    train_run(TrainConfig(**{**vars(config), "out": str(tmp_path / "run")}), progress=False)
    reference = load_model(tmp_path / "run" / "model")
    live = LiveSession(config)
    try:
        live.step()
        live.step()
        live.run(18)
        assert wait_for(live, 20) == 20
        live._thread.join(timeout=30)
        assert live.finished and not live.running
        found = live.model.parameters.arrays()
        for name, value in reference.parameters.arrays().items():
            np.testing.assert_array_equal(found[name], value, err_msg=name)
        with pytest.raises(MatnetError, match="has stopped: every epoch is done"):
            live.step()
    finally:
        live.close()


def test_one_step_is_the_matrices_of_the_formulas(session):
    """dZ of the last layer is (P - Y) / m, dW = dZ.T @ A_prev, db = dZ's column sums, dA_prev = dZ @ W masked by
    ReLU' is the hidden dZ, and SGD's W_new = W - lr * dW (float32 precision)."""
    view = session.step(rows=16)
    assert view["step"] == 1 and view["batch_size"] == 16 == len(view["batch"]) and view["rows"] == 16
    x = session.splits.x_train[view["batch"]]
    np.testing.assert_array_equal(view["x"], x)
    hidden, last = view["layers"]
    assert (hidden["input"], last["input"]) == ("x", "relu_1") and hidden["activation"] == "ReLU"
    one_hot = np.eye(10, dtype=np.float32)[view["y"]]
    np.testing.assert_allclose(last["dZ"], (last["A"] - one_hot) / 16, atol=1e-7)
    np.testing.assert_allclose(last["A"], np.exp(last["Z"]) / np.exp(last["Z"]).sum(1, keepdims=True), rtol=1e-5)
    for layer, a_prev in ((hidden, x), (last, hidden["A"])):
        np.testing.assert_allclose(layer["Z"], a_prev @ layer["W"].T + layer["b"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer["dW"], layer["dZ"].T @ a_prev, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(layer["db"], layer["dZ"].sum(0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(layer["W_new"], layer["W"] - np.float32(0.1) * layer["dW"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(hidden["dZ"], (last["dZ"] @ last["W"]) * (hidden["Z"] > 0), atol=1e-7)
    assert not np.array_equal(hidden["W_new"], hidden["W"])
    assert session.step()["step"] == 2 and session.status()["step"] == 2


def test_a_gradient_entry_checks_against_central_differences(session):
    view = session.step()
    for layer, param, index in ((0, "W", [5, 300]), (1, "W", [3, 7]), (1, "b", [9]), (0, "b", [0])):
        found = session.check(layer, param, index)
        assert found["relative_error"] < 1e-6, found
        key = "dW" if param == "W" else "db"
        assert abs(found["step_analytic"] - view["layers"][layer][key][tuple(index)]) == 0
    for bad, message in (((2, "W", [0, 0]), "layer must be 0 to 1"), ((0, "gamma", [0]), "param must be"),
                         ((0, "W", [32, 0]), "index must be within"), ((0, "W", [1]), "index must be within")):
        with pytest.raises(MatnetError, match=message):
            session.check(*bad)


def test_run_pause_lr_and_status(session):
    assert session.status()["step"] == 0 and session.status()["val_accuracy"] is not None
    session.set_lr(0.05)
    session.run(5)
    assert wait_for(session, 5) == 5
    time.sleep(0.05)
    status = session.status()
    assert status["step"] == 5 and not status["running"] and status["lr"] == 0.05
    assert session.trainer.optimizer.rate == 0.05
    assert len(session.losses) == 5 and session.accuracy[-1][0] == 5
    session.run(1000)
    time.sleep(0.05)
    session.pause()
    stopped = session.steps
    time.sleep(0.2)
    assert session.steps <= stopped + 1 and not session.running
    with pytest.raises(MatnetError, match="lr must be a finite number > 0"):
        session.set_lr(float("nan"))
    with pytest.raises(MatnetError, match="steps must be 1 to"):
        session.run(0)


def test_a_diverging_session_says_so(mnist):
    live = LiveSession(settings(lr=1e30, batch_size=64, subset=3200))
    try:
        live.run(50)
        live._thread.join(timeout=60)
        assert live.error and "the loss became nan or infinite" in live.error
        with pytest.raises(MatnetError, match="has stopped: the loss became nan"):
            live.step()
    finally:
        live.close()


def test_bad_settings_are_refused(mnist):
    with pytest.raises(MatnetError, match="batch size must be 1 to 1,024"):
        LiveSession(settings(batch_size=2048))
    with pytest.raises(MatnetError, match="learning rate must be a positive number"):
        LiveSession(settings(lr=-1))
    with pytest.raises(MatnetError, match="layers must start with 784"):
        LiveSession(settings(layers=[100, 10]))


def test_the_loss_log_keeps_4_bytes_a_step_and_answers_at_most_limit_points():
    """A session of batches of 1 runs 5 million steps in 100 epochs: a list of (step, loss) tuples held ~120 bytes a
    step (600 MB), the log holds float32. A history answer thins many new steps to every k-th, the last kept."""
    log = LossLog()
    values = np.random.default_rng(0).random(100_001).astype(np.float32)
    for value in values:
        log.append(value)
    assert len(log) == 100_001 and log[0] == values[0] and log[-1] == values[-1]
    assert log._values.nbytes <= 4 * 2 * 100_001               # doubling: at most twice what it holds
    assert log.points(99_998) == [[99_999, float(values[99_998])], [100_000, float(values[99_999])],
                                  [100_001, float(values[100_000])]]
    thinned = log.points(0, limit=1000)
    steps = [step for step, _ in thinned]
    assert len(thinned) <= 1000 and steps[-1] == 100_001 and steps == sorted(steps)
    assert set(np.diff(steps)) == {101}                            # every 101st: ceil(100,001 / 1,000)
    assert all(loss == float(values[step - 1]) for step, loss in thinned)
    assert log.points(100_001) == [] and log.points(10**9) == []
