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
from PIL import Image

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
            assert rows == [min(inp, 32), 2 * -(-inp // 32) - 1], (layer.name, rows)   # one row, wrapped
        assert z_caption.startswith(f"z (1, {out})"), z_caption

    if viewport_name == "desktop":      # a unit's incoming weights, and gradient x input
        page.locator('[data-layer="dense_1"] figure canvas.units:not(.matrix)').first.click(position={"x": 2, "y": 2})
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
    """Issue 35.3 on the page: a photo of 31570 is read as one digit, and the page says it holds five; the button
    beside the warning reads it as the number it is, each digit with the input the model saw."""
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
    assert page.is_hidden("#number-view")
    page.click("#read-number")                     # the same photo read as a number (/api/number)
    page.wait_for_selector("body[data-number=done] #number-view:not([hidden])")
    assert page.inner_text("#number") == "31570"
    assert page.locator("#number-digits canvas.pixels").count() == 5
    assert [caption[0] for caption in page.locator("#number-digits figcaption").all_inner_texts()] == list("31570")
    assert page.is_hidden("#number-warning")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-number.png"), full_page=True)
    one = tmp_path / "seven.png"                   # one digit: the number view goes, and so does the button
    Image.fromarray(255 - mnist.test_images[0]).resize((140, 140)).save(one)
    page.set_input_files("#upload", str(one))
    page.wait_for_selector("body[data-state=done][data-predictions='3']")
    assert page.is_hidden("#number-view") and page.is_hidden("#read-number")
    assert not page.inner_text("#status").startswith("Warning")
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


# --- the page's details, on a small network made on the spot (784-16-10, a unit of relu_1 dead) -----------------
DEAD = 3   # relu_1's unit 3: W[3] = 0 and b[3] = -1, so 0 for every image; dense_2 takes it through W[:, 3] = 0


@pytest.fixture(scope="module")
def small_served(tmp_path_factory, mnist):   # mnist: the page's test digits, and the images dead units are found on
    from matnet.model import Sequential
    from matnet.nn.activations import ReLU
    from matnet.nn.dense import Dense

    model = Sequential([Dense(784, 16), ReLU(), Dense(16, 10)], seed=0, preprocessing={"dataset": "mnist"})
    model.layers[0].params["W"][DEAD] = 0
    model.layers[0].params["b"][DEAD] = -1
    model.layers[2].params["W"][:, DEAD] = 0
    stem = tmp_path_factory.mktemp("small-page") / "small"
    model.save(stem)
    process, url, lines = start_server(stem.with_suffix(".npz"))
    yield url, model
    stop_server(process, lines)


def test_a_failed_upload_clears_the_verdict_and_greys_the_layers(browser, small_served, tmp_path):
    from PIL import Image

    url, _ = small_served
    page, problems = watched_page(browser, url, 1280, 900)
    page.goto(url)
    page.wait_for_selector("body[data-state=done][data-shown=sample]")
    assert page.inner_text("#label") in "0123456789" and page.is_hidden("#verdict-note")
    blank = tmp_path / "blank.png"
    Image.new("L", (120, 120), "white").save(blank)                   # no digit in it
    page.set_input_files("#upload", str(blank))
    page.wait_for_selector("body[data-state=error]")
    assert page.inner_text("#label") == "\u2013" and page.inner_text("#confidence") == ""
    assert page.eval_on_selector_all(".bar .pct", "bars => bars.map(b => b.textContent)") == [""] * 10
    note = page.inner_text("#verdict-note")
    assert note.startswith("No prediction for this photo: ") and "no digit found" in note, note
    assert page.get_attribute("#layers", "class") == "stale"
    assert page.evaluate("getComputedStyle(document.getElementById('layers')).opacity") == "0.35"
    assert page.inner_text("#layers-note").startswith("Greyed: these layers show the previous input")
    page.click("#random")                                             # a readable image: all back, not greyed
    page.wait_for_selector("body[data-state=done][data-shown=sample]")
    assert page.inner_text("#label") in "0123456789" and page.is_hidden("#verdict-note")
    assert page.is_hidden("#layers-note") and page.get_attribute("#layers", "class") == ""
    assert [p for p in problems if "status of 422" not in p] == [], problems     # the upload's answer, logged
    page.close()


def test_the_last_layer_the_dead_units_and_the_clickable_units(browser, small_served, mnist):
    url, model = small_served
    page, problems = watched_page(browser, url, 1400, 1000)
    page.goto(url)
    page.wait_for_selector("body[data-state=done][data-shown=sample]")
    last = page.locator('.panel[data-layer="dense_2"]')
    # z ends in softmax -> p, each cell of z and p under its class, p joined to the Prediction bars
    assert last.locator(".op .sym").all_inner_texts() == ["@", "+", "=", "\u2192 softmax \u2192"]
    classes = [str(k) for k in range(10)]
    assert last.locator("figure").nth(3).locator(".labels span").all_inner_texts() == classes   # z (1, 10)
    p = last.locator("figure.probabilities")
    assert p.locator(".labels span").all_inner_texts() == classes
    assert p.locator("figcaption").inner_text() == "p (1, 10) = softmax(z), the Prediction bars"
    assert p.locator("a").get_attribute("href") == "#prediction-panel"
    assert page.inner_text("#bars-caption") == "p = softmax(z) of dense_2, the last layer (Layer by layer)"
    assert p.locator("canvas").evaluate("c => [c.width, c.height]") == [10, 1]
    cells = [box["width"] for box in page.eval_on_selector_all(
        '.panel[data-layer="dense_2"] .labels span', "s => s.map(e => e.getBoundingClientRect().toJSON())")]
    assert all(abs(w - (240 - 2) / 10) < 0.1 for w in cells), cells    # 24 px cells (less the canvas's border)

    # the dead unit, found by the server on 1,000 training images, said under both W.T; it is drawn white
    x = mnist.train_images[:1000].reshape(1000, 784).astype(np.float32) / 255
    hidden = dict((layer.name, out) for layer, out in model.trace(x))["relu_1"]
    dead = np.flatnonzero((hidden <= 0).all(axis=0)).tolist()
    assert DEAD in dead
    first = page.locator('.panel[data-layer="dense_1"] .note.dead')
    assert first.count() == 1 and first.get_attribute("data-axis") == "columns"
    assert first.get_attribute("data-units") == ",".join(map(str, dead)) and first.get_attribute("data-white")
    text = first.inner_text()
    assert dead == [DEAD], dead              # the random weights of seed 0 kill no other unit on these images
    assert text == (f"Dead ReLU unit: W.T's column {DEAD} is a unit of relu_1 that is 0 for every one of 1,000 mnist "
                    "training images; it passes nothing on, and its weights get no gradient. It is the white column "
                    "of W.T (its weights are about 0)."), text
    rows = last.locator(".note.dead")
    assert rows.count() == 1 and rows.get_attribute("data-axis") == "rows"
    assert rows.inner_text() == (f"W.T's row {DEAD} takes relu_1's dead unit (0 for every one of 1,000 mnist training "
                                 "images): it adds nothing to z. It is the white row of W.T (its weights are about 0).")

    # the narrow W.T (784, 16): widened to 60 px, the scale said
    w = page.locator('.panel[data-layer="dense_1"] canvas.matrix')
    assert w.bounding_box()["width"] >= 60 - 0.5
    assert page.inner_text('.panel[data-layer="dense_1"] figure.matrix .scale') == \
        "drawn 3.8 px a column, 0.51 px a row (widened: at one scale it would be 8.2 px wide)"
    assert page.inner_text('.panel[data-layer="dense_2"] figure.matrix .scale') == "drawn 8 px an entry"
    # b (16,) is one line; a (1, 16) has 16 px cells; a column of W.T is clickable, and the unit is outlined
    box = w.bounding_box()
    w.click(position={"x": (DEAD + 0.5) * box["width"] / 16, "y": box["height"] / 2})
    page.wait_for_selector("#unit:not([hidden])")
    assert page.inner_text("#unit-title") == f"dense_1, unit {DEAD}"
    figures = page.locator('.panel[data-layer="dense_1"] figure')
    assert page.locator('.panel[data-layer="dense_1"] .mark').count() == 3    # in z, a and W.T
    z, mark = figures.nth(3).locator("canvas").bounding_box(), figures.nth(3).locator(".mark").bounding_box()
    cell = (z["width"] - 2) / 16                                               # inside the 1 px border
    assert abs(mark["x"] - (z["x"] + 1 + DEAD * cell)) < 1 and abs(mark["width"] - cell) < 1, (z, mark)
    column = figures.nth(1).locator(".mark").bounding_box()
    assert abs(column["x"] - (box["x"] + 1 + DEAD * (box["width"] - 2) / 16)) < 1 and column["height"] > 300
    page.keyboard.press("Escape")
    assert page.locator("#layers .mark").count() == 0
    assert not problems, problems
    page.close()


def test_a_wide_row_wraps_with_clickable_cells_and_says_so(browser, tmp_path, mnist):
    from matnet.model import Sequential
    from matnet.nn.activations import ReLU
    from matnet.nn.dense import Dense

    model = Sequential([Dense(784, 128), ReLU(), Dense(128, 10)], seed=0, preprocessing={"dataset": "mnist"})
    model.save(tmp_path / "wide")
    process, url, lines = start_server(tmp_path / "wide.npz")
    try:
        page, problems = watched_page(browser, url, 1400, 1000)
        page.goto(url)
        page.wait_for_selector("body[data-state=done][data-shown=sample]")
        panel = page.locator('.panel[data-layer="dense_1"]')
        captions = panel.locator("figcaption").all_inner_texts()
        assert captions[2] == "b (128,), added to each row; wrapped every 32", captions
        assert captions[3] == "z (1, 128), one row (wrapped every 32)", captions
        z = panel.locator("figure").nth(3).locator("canvas")
        assert z.evaluate("c => [c.width, c.height]") == [32, 7]
        box = z.bounding_box()
        assert box["width"] == 32 * 8                                    # 8 px cells (less the 1 px border)
        z.click(position={"x": 1 + 8 * 5 + 4, "y": 1 + 8 * 2 + 4})      # the second line's sixth cell
        page.wait_for_selector("#unit:not([hidden])")
        assert page.inner_text("#unit-title") == "dense_1, unit 37"
        assert panel.get_attribute("data-unit") == "37"
        assert not problems, problems
        page.close()
    finally:
        stop_server(process, lines)


def test_operators_stay_beside_their_operands_on_a_phone(browser, small_served):
    url, _ = small_served
    page, problems = watched_page(browser, url, 390, 844)
    page.goto(url)
    page.wait_for_selector("body[data-state=done][data-shown=sample]")
    pairs = page.eval_on_selector_all(".panel .op .term", """terms => terms.map(t => {
        const sym = t.querySelector('.sym').getBoundingClientRect();
        const fig = t.querySelector('figure').getBoundingClientRect();
        return [t.querySelector('.sym').textContent, sym.right, sym.top, sym.bottom, fig.left, fig.top, fig.bottom];
    })""")
    assert len(pairs) == 2 * 4, pairs                         # @ + = -> relu ->, then @ + = -> softmax ->
    for text, right, top, bottom, left, fig_top, fig_bottom in pairs:
        assert 0 <= left - right <= 12, (text, right, left)      # the operand right after its operator...
        assert fig_top <= (top + bottom) / 2 <= fig_bottom, text  # ...on the same line
        assert right <= 390, text
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    p, labels = (page.locator(f".probabilities {part}").bounding_box() for part in ("canvas", ".labels"))
    assert abs(p["x"] - labels["x"]) < 1 and abs(p["width"] - labels["width"]) < 1, (p, labels)   # under their cells
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-small-phone-390x844.png"), full_page=True)
    assert not problems, problems
    page.close()
