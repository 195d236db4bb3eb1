"""The Train view as a person uses it: ``matnet serve`` with no model (so the page opens on it), a 784-32-10
network started from the form, watched as its loss falls, paused, stepped once with the Right arrow, and the step's
dW checked: what the page drew against NumPy's dZ.T @ A_prev, and one entry against central differences.
Screenshots at a desktop and a phone width go to test-artifacts/."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest

from serve_support import start_server, stop_server, watched_page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"     # where the other browser tests put theirs

pytestmark = pytest.mark.slow


def array(encoded: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded["base64"]), dtype="<f4").reshape(encoded["shape"])


def diverging(values: np.ndarray) -> np.ndarray:
    """The page's colours (app.js ``diverging``): red positive, blue negative, white zero, on the largest |value|."""
    t = np.clip(values / (np.abs(values).max() or 1), -1, 1)
    fade = np.round(255 * (1 - np.abs(t)))
    red = np.where(t >= 0, 255, fade)
    blue = np.where(t >= 0, fade, 255)
    return np.stack([red, fade, blue], axis=-1)


def wait_until(page, expression: str, timeout: float = 60.0):
    """Until ``expression`` is true in the page (polled: the page's CSP allows no eval, so no wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not within {timeout} s: {expression}"
        page.wait_for_timeout(100)


def start_training(page, epochs: int | None = None):
    """784-32-10 with SGD at 0.1 in batches of 16 from the form, started and running."""
    page.select_option("#train-preset", "784-32-10")
    page.select_option("#train-optimizer", "sgd")
    page.fill("#train-lr", "0.1")
    page.fill("#train-batch", "16")
    if epochs is not None:
        page.fill("#train-epochs", str(epochs))
    page.click("#train-start")
    page.wait_for_selector("body[data-session][data-running='1']", timeout=60_000)


@pytest.fixture(scope="module")
def bare_server(mnist):     # mnist: the live session trains on the cached MNIST
    process, url, lines = start_server()
    yield url
    out = stop_server(process, lines)
    assert process.returncode == 0 and "serving no model" in out, out


def test_watch_it_learn_then_step_through_one_step(browser, bare_server):
    url = bare_server
    page, problems = watched_page(browser, url, 1400, 1000)
    page.goto(url)
    page.wait_for_selector("body[data-view=train]")                 # no model: the page opens on training
    assert page.is_hidden("#draw-view") and page.is_visible("#train-form")
    page.click("#tab-draw")
    page.wait_for_selector("body[data-view=draw][data-state=nomodel]")
    assert "No model is served" in page.inner_text("#status")
    page.click("#tab-train")
    page.wait_for_selector("body[data-view=train]")

    start_training(page, epochs=20)
    wait_until(page, "window.matnetTrain.losses.length >= 200 && window.matnetTrain.accuracy.length >= 2", 120)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Space")                                  # pause (at once: on a fast machine, 20 epochs end
    page.wait_for_selector("body[data-running='0']")              # in a minute or two)
    assert page.is_enabled("#train-one") and not page.evaluate("window.matnetTrain.status.finished")
    page.wait_for_selector("#train-weights canvas >> nth=31")
    page.wait_for_selector("#train-samples figure[data-predicted] >> nth=9")
    losses = np.array(page.evaluate("window.matnetTrain.losses.slice(0, 200)"))
    assert losses[:, 0].tolist() == list(range(1, 201))
    assert losses[:20, 1].mean() > 1.5 * losses[180:200, 1].mean(), losses[:, 1]     # it learns
    assert int(page.get_attribute("#loss-chart", "data-points")) >= 200
    assert page.inner_text("#train-title").startswith("784-32-10, relu, sgd, batches of 16")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400

    # the learning rate control, then pause (Space) and one step (Right arrow)
    page.fill("#train-lr-live", "0.05")
    page.press("#train-lr-live", "Enter")
    wait_until(page, "window.matnetTrain.status.lr === 0.05")
    page.evaluate("document.activeElement.blur()")   # keys in the learning rate box are its own

    before = int(page.get_attribute("body", "data-train-step"))
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"body[data-step-shown='{before + 1}']", timeout=60_000)
    step = page.evaluate("window.matnetStep")
    assert step["step"] == before + 1 and step["batch_size"] == 16 and step["rows"] == 16 and step["lr"] == 0.05
    x = array(step["x"]).astype(np.float64)
    for k, layer in enumerate(step["layers"]):
        a_prev = x if k == 0 else array(step["layers"][k - 1]["A"]).astype(np.float64)
        dW = array(layer["dW"])
        np.testing.assert_allclose(dW, array(layer["dZ"]).astype(np.float64).T @ a_prev, rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(array(layer["W_new"]), array(layer["W"]) - np.float32(0.05) * dW)
        # and the canvas drawn for it holds exactly that matrix, one pixel an entry, in the page's colours
        canvas = page.locator(f"#step-matrices figure[data-matrix=dW][data-layer='{k}'] canvas").first
        shown = canvas.evaluate("c => [c.width, c.height, Array.from(c.getContext('2d')"
                                ".getImageData(0, 0, c.width, c.height).data)]")
        assert shown[:2] == [dW.shape[1], dW.shape[0]]
        pixels = np.array(shown[2], dtype=np.float64).reshape(dW.shape[0], dW.shape[1], 4)[..., :3]
        assert np.abs(pixels - diverging(dW.astype(np.float64))).max() <= 1
    captions = page.locator("#step-matrices .formula").all_inner_texts()
    assert any("dW1 = dZ1.T @ X (32, 784) = (32, 16) @ (16, 784)" in text for text in captions), captions
    assert any("Z1 = X @ W1.T + b1 (16, 32) = (16, 784) @ (784, 32) + (32,)" in text for text in captions), captions

    # hover a dW cell: which row of dZ.T and column of A_prev made it; click it, check it
    canvas = page.locator("#step-matrices figure[data-matrix=dW][data-layer='0'] canvas").first
    box = canvas.bounding_box()
    i, j = 5, 400
    x_at, y_at = (j + 0.5) / 784 * box["width"], (i + 0.5) / 32 * box["height"]
    canvas.hover(position={"x": x_at, "y": y_at})
    page.wait_for_selector("#step-hover:not([hidden])")
    canvas.click(position={"x": x_at, "y": y_at})
    hover = page.locator("#step-hover")
    assert (hover.get_attribute("data-i"), hover.get_attribute("data-j"), hover.get_attribute("data-pinned")) == \
        (str(i), str(j), "1")
    text = page.inner_text("#step-hover-text")
    assert f"dW1[{i}, {j}]" in text and f"row {i} of dZ1.T" in text and f"column {j} of X" in text, text
    page.click("#check-button")
    page.wait_for_selector("#check-result[data-relative]", timeout=60_000)
    assert float(page.get_attribute("#check-result", "data-relative")) < 1e-6
    assert "numeric" in page.inner_text("#check-result") and "analytic" in page.inner_text("#check-result")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-train-desktop-1400x1000.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "sideways scrolling on a phone"
    page.screenshot(path=str(ARTIFACTS / "serve-train-phone-390x844.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})

    # Resume, then Reset: the session ends and the form is back
    page.click("#train-resume")
    page.wait_for_selector("body[data-running='1']")
    page.click("#train-reset")
    page.wait_for_selector("#train-form:not([hidden])")
    assert not problems, problems
    session = page.evaluate("window.matnetTrain.id")
    assert session is None and page.evaluate("fetch('/api/train/1').then(r => r.status)") == 404   # ended
    page.close()


@pytest.mark.slow
def test_the_form_says_what_is_wrong_in_words(browser, bare_server):
    """Sizes that are not whole numbers, no learning rate: a sentence naming the field, and no session started
    (784-32.5-10 once trained 784-32-5-10 silently; the browser itself stops a negative rate, the field's min)."""
    page, problems = watched_page(browser, bare_server, 1400, 1000)
    page.goto(bare_server + "#train")
    page.wait_for_selector("#train-form")
    for field, value, words in (("#train-layers", "784-32.5-10", "Layer sizes: whole numbers"),
                                ("#train-layers", "abc", "Layer sizes: whole numbers"),
                                ("#train-lr", "", "Learning rate: a number above 0")):   # "abc" reads "" there
        page.fill("#train-layers", "784-32-10")
        page.fill("#train-lr", "0.1")
        page.fill(field, value)
        page.click("#train-start")
        said = "words => document.getElementById('train-status').textContent.includes(words)"
        page.wait_for_function(said, arg=words, timeout=5000)
        assert page.evaluate("document.body.dataset.session") is None
    assert problems == []
    page.close()


def test_after_a_blow_up_the_accuracy_shown_is_said_to_be_from_before(browser, bare_server):
    """A learner sets the rate to 1e9 while it trains: the session stops with the diagnosis, and the accuracy still
    on screen (measured before the blow-up) says so instead of passing for the network's accuracy now."""
    page, problems = watched_page(browser, bare_server, 1400, 1000)
    page.goto(bare_server + "#train")
    page.wait_for_selector("#train-form")
    start_training(page)
    wait_until(page, "window.matnetTrain.accuracy.length >= 1", 120)
    assert "before it stopped" not in page.inner_text("#train-accuracy")
    page.fill("#train-lr-live", "1e9")
    page.dispatch_event("#train-lr-live", "change")
    wait_until(page, "document.getElementById('train-status').textContent.includes('Training stopped')", 60)
    assert page.inner_text("#train-accuracy").endswith("% (before it stopped)")
    assert problems == []
    page.close()


def test_the_form_sets_the_loss_the_output_and_the_init(browser, bare_server):
    """Nielsen's chapter 1 from the preset (784-100-10 sigmoid, N(0, 1) weights, MSE on a sigmoid output, SGD at 15
    in batches of 10, matnet.config.PRESETS["nielsen"]), its sizes made 784-30-10: the session has those settings.
    Cross-entropy on a sigmoid output: the server's 422 in words in the status line, and no session. The form, now
    longer, still fits a phone."""
    page, problems = watched_page(browser, bare_server, 1400, 1000)
    page.goto(bare_server + "#train")
    page.wait_for_selector("#train-form")
    page.select_option("#train-preset", "nielsen")
    fields = ("#train-layers", "#train-activation", "#train-init", "#train-loss-fn", "#train-output",
              "#train-optimizer", "#train-lr", "#train-batch", "#train-epochs")
    assert [page.input_value(f) for f in fields] == ["784-100-10", "sigmoid", "normal", "mse", "sigmoid", "sgd", "15",
                                                     "10", "30"]
    page.fill("#train-layers", "784-30-10")
    assert page.input_value("#train-preset") == "custom"
    page.fill("#train-epochs", "1")
    page.click("#train-start")
    page.wait_for_selector("body[data-session]", timeout=60_000)
    session = page.evaluate("document.body.dataset.session")
    config = page.evaluate(f"fetch('/api/train/{session}').then(r => r.json()).then(s => s.config)")
    assert {k: config[k] for k in ("layers", "activation", "init", "loss", "output", "label_smoothing", "optimizer",
                                   "lr", "batch_size")} == {
        "layers": [784, 30, 10], "activation": "sigmoid", "init": "normal", "loss": "mse", "output": "sigmoid",
        "label_smoothing": 0.0, "optimizer": "sgd", "lr": 15.0, "batch_size": 10}, config
    assert "mse on a sigmoid output" in page.inner_text("#train-title")
    page.evaluate("document.activeElement.blur()")
    if page.get_attribute("body", "data-running") != "0":
        page.keyboard.press("Space")                                # pause, then one step: its matrices
        page.wait_for_selector("body[data-running='0']")
    before = int(page.get_attribute("body", "data-train-step"))
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"body[data-step-shown='{before + 1}']", timeout=60_000)
    formulas = page.evaluate("[...document.querySelectorAll('.panel .formula')].map(f => f.textContent)")
    assert any(f.startswith("loss = mean over the 10 x 10 entries of (A2 - Y)^2") for f in formulas), formulas
    assert any(f.startswith("dZ2 = 2 (A2 - Y) / (10 x 10) * A2 (1 - A2)") for f in formulas), formulas
    assert not any("log P" in f or "(P - Y)" in f for f in formulas)          # no cross-entropy words under mse
    page.click("#train-reset")
    page.wait_for_selector("#train-form:not([hidden])")

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "sideways scrolling on a phone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-train-form-phone-390x844.png"), full_page=True)

    page.select_option("#train-loss-fn", "cross-entropy")        # the output still sigmoid: the server refuses it
    page.click("#train-start")
    said = "words => document.getElementById('train-status').textContent.includes(words)"
    page.wait_for_function(said, arg="output sigmoid with loss cross-entropy", timeout=10_000)
    assert "use loss mse for a sigmoid output" in page.inner_text("#train-status")
    assert page.evaluate("document.getElementById('train-status').classList.contains('error')")
    assert page.evaluate("document.body.dataset.session") is None and page.is_visible("#train-form")
    assert [p for p in problems if "status of 422" not in p] == []
    page.close()
