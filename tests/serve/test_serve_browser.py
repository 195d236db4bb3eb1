"""The page as a person uses it: a real ``matnet serve`` process on a free loopback port, headless Chromium
(Debian's package) driven by Playwright, a digit drawn with the mouse along the strokes of a real MNIST test digit.

The strokes come from the digit's pixels: its ink thinned to a one-pixel skeleton (Zhang-Suen), the skeleton
walked into polylines, each polyline drawn as one mouse stroke on the pad. Screenshots at a desktop and a phone
width go to test-artifacts/."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from matnet.runfolder import load_model
from serve_support import skeleton, start_server, stop_server, strokes_of, watched_page

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from hard_digits import number_page  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VIEWPORTS = {"desktop": ((1400, 1000), 7), "phone": ((390, 844), 2)}   # each draws another digit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(default_run):
    run, summary = default_run
    process, url, lines = start_server(run)
    yield url, load_model(run), summary
    out = stop_server(process, lines)
    assert process.returncode == 0 and "stopped" in out, out


def digit_strokes(mnist, model, digit):
    """The strokes of the first test image of ``digit`` that the model is sure of, in 28x28 pixel coordinates."""
    for index in np.flatnonzero(mnist.test_labels == digit):
        image = mnist.test_images[index] / 255.0
        if model.predict_proba(image.reshape(1, 784))[0, digit] > 0.99:
            return strokes_of(skeleton(image > 0.5))
    raise AssertionError(f"no test image of {digit} the model is sure of")


def draw(page, strokes):
    box = page.locator("#pad").bounding_box()

    def at(point):
        row, col = point
        return box["x"] + (col + 0.5) / 28 * box["width"], box["y"] + (row + 0.5) / 28 * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=2)
        page.mouse.up()


@pytest.mark.parametrize("viewport_name", list(VIEWPORTS))
def test_draw_a_digit_and_see_every_layer(browser, served, mnist, viewport_name):
    url, model, summary = served
    (width, height), digit = VIEWPORTS[viewport_name]
    page, problems = watched_page(browser, url, width, height)
    page.goto(url)
    # On arrival the page shows a random test digit and every layer at work on it: no empty box.
    page.wait_for_selector("body[data-state=done][data-shown=sample]")   # the page's CSP allows no eval
    assert f"test accuracy {100 * summary['test_accuracy']:.2f}%" in page.inner_text("#model-info")
    assert page.inner_text("#true-label").startswith("True label: ") and page.inner_text("#label") in "0123456789"
    if viewport_name == "desktop":      # the verdict in view beside the pad, without scrolling
        assert page.locator("#prediction-panel").bounding_box()["y"] + 60 <= height
        assert page.locator("#bars").bounding_box()["y"] + page.locator("#bars").bounding_box()["height"] <= height
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"serve-{viewport_name}-on-arrival.png"))

    draw(page, digit_strokes(mnist, model, digit))
    page.wait_for_selector("body[data-state=done][data-shown=draw]")
    assert page.inner_text("#label") == str(digit)

    shown = page.eval_on_selector_all(".bar .pct", "bars => bars.map(b => parseFloat(b.textContent))")
    exact = page.eval_on_selector_all(".bar", "bars => bars.map(b => parseFloat(b.dataset.p))")
    assert len(shown) == 10 and abs(sum(shown) - 100) <= 0.5 and abs(sum(exact) - 1) < 1e-5
    assert max(range(10), key=lambda k: exact[k]) == digit

    names = [row["name"] for row in page.evaluate("fetch('/api/models/default').then(r => r.json())")["layers"]]
    assert names == [layer.name for layer, _ in model.trace(np.zeros((1, 784), np.float32))]
    for name in names:
        panel = page.locator(f'[data-layer="{name}"]')
        assert panel.count() == 1 and panel.get_attribute("data-rendered") == "1", name
        sizes = panel.locator("canvas").evaluate_all("cs => cs.map(c => [c.width, c.getBoundingClientRect().width])")
        assert sizes and all(w > 0 and 0 < shown_w <= width for w, shown_w in sizes), (name, sizes)
    assert page.evaluate("document.documentElement.scrollWidth") <= width      # no sideways scrolling

    # z = x @ W.T + b as the matrices it is: x a row, W.T drawn in (in, out) (in tall, out wide), the +, the =
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert len(dense) == 3
    for layer in dense:
        out, inp = layer.params["W"].shape
        panel = page.locator(f'.panel[data-layer="{layer.name}"]')
        ops = panel.locator(".op .sym").all_inner_texts()
        assert ops[:3] == ["@", "+", "="], (layer.name, ops)
        w = panel.locator("canvas.matrix")
        assert w.evaluate("c => [c.width, c.height]") == [out, inp], layer.name        # W.T: in rows, out columns
        shown = w.bounding_box()
        assert shown["height"] > shown["width"] if inp > out else True, (layer.name, shown)
        captions = panel.locator("figcaption").all_inner_texts()
        assert captions[1].startswith(f"W.T ({inp}, {out})"), captions
        assert captions[2].startswith(f"b ({out},)"), captions
        x_caption, z_caption = captions[0], captions[3]
        if layer is dense[0]:
            assert x_caption == "x (1, 784), the 28x28 image as one row"
        else:
            assert x_caption.startswith(f"x (1, {inp})"), x_caption
            rows = panel.locator("figure").first.locator("canvas").evaluate("c => [c.width, c.height]")
            assert rows == [min(inp, 64), 2 * -(-inp // 64) - 1], (layer.name, rows)   # one row, wrapped
        assert z_caption.startswith(f"z (1, {out})"), z_caption

    if viewport_name == "desktop":      # a unit's incoming weights, and gradient x input
        page.locator('[data-layer="dense_1"] figure canvas.units').first.click(position={"x": 1, "y": 1})
        page.wait_for_selector("#unit:not([hidden])")
        assert page.inner_text("#unit-title") == "dense_1, unit 0"
        assert "28x28 image" in page.inner_text("#unit-caption")
        page.check("#explain")
        page.wait_for_selector("#attribution-figure:not([hidden])")
        assert page.inner_text("#attribution-class") == str(digit)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"serve-{viewport_name}-{width}x{height}.png"), full_page=True)
    assert not problems, problems
    page.close()


def test_random_test_digit_shows_its_true_label(browser, served):
    url, _, _ = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_selector("body[data-state=done][data-shown=sample][data-predictions='1']")   # on arrival
    page.click("#random")
    page.wait_for_selector("body[data-state=done][data-predictions='2']")   # the page's CSP allows no eval
    assert page.inner_text("#true-label").startswith("True label: ")
    assert page.inner_text("#label") in "0123456789"
    page.click("#clear")
    assert page.inner_text("#label") == "\u2013" and page.is_hidden("#true-label")
    page.click("#tab-train")                       # with a model, live training is one click away, and back
    page.wait_for_selector("body[data-view=train] #train-form")
    assert page.is_hidden("#draw-view") and page.is_visible("#train-start")
    page.click("#tab-draw")
    page.wait_for_selector("body[data-view=draw]")
    assert page.is_visible("#pad") and page.is_hidden("#train-view")
    page.close()


def test_an_uploaded_number_is_read_with_its_warning_shown(browser, served, mnist, tmp_path):
    """Issue 35.3 on the page: a photo of 31570 is read as one digit, and the page says it holds five."""
    url, _, _ = served
    photo = tmp_path / "31570.png"
    number_page(list(mnist.test_images[[18, 2, 8, 0, 3]]), np.random.default_rng(0), touching=0).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_selector("body[data-state=done][data-predictions='1']")
    page.set_input_files("#upload", str(photo))
    page.wait_for_selector("body[data-state=done][data-predictions='2']")
    assert page.inner_text("#status") == ("Warning: this image holds 5 digit-sized marks: it is read here as one "
                                          "digit (matnet predict --multi reads a number).")
    page.close()


HOSTILE = '<b id="injected">bold</b><img src=x onerror="document.body.dataset.pwned = 1">'


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    """A small model whose layer names and class names hold markup: a bold element, and an image whose error
    handler would mark the page."""
    from matnet.model import Sequential
    from matnet.nn.activations import ReLU
    from matnet.nn.dense import Dense

    model = Sequential([Dense(784, 16, name=HOSTILE), ReLU(name=f"relu {HOSTILE}"), Dense(16, 10, name="out")],
                       classes=[f'<i id="class{k}">{k}</i>' for k in range(10)], preprocessing={"dataset": "mnist"})
    stem = tmp_path_factory.mktemp("hostile-page") / "hostile"
    model.save(stem)
    return stem.with_suffix(".npz")


def test_markup_in_a_model_file_is_shown_as_text(browser, hostile_model, mnist):   # mnist: the page shows a test digit
    process, url, lines = start_server(hostile_model)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(url)
        page.wait_for_selector("body[data-state=done][data-shown=sample]")
        page.wait_for_timeout(300)               # an image's error handler, had one been made, would have run
        found = page.evaluate("""() => ({
            injected: document.querySelectorAll('#injected, [id^=class], #layers img, #layers b, .bar i').length,
            pwned: document.body.dataset.pwned || null,
            titles: [...document.querySelectorAll('#layers h3')].map(h => h.textContent),
            classes: [...document.querySelectorAll('.bar .name')].map(s => s.textContent)})""")
        page.close()
    finally:
        stop_server(process, lines)
    assert found["injected"] == 0 and found["pwned"] is None, found
    assert f"{HOSTILE} Dense" in found["titles"], found["titles"]          # the name, literally, then the type
    assert found["classes"] == [f'<i id="class{k}">{k}</i>' for k in range(10)]
    assert not problems, problems
