"""Figures and the report from a tiny real run, and from run folders made by hand.

What a figure shows is checked on the matplotlib Figure itself: every drawing function hands its figure to
``figures._save``, and the ``drawn`` fixture (or ``record_figures`` around a whole report) records it there before
it is written and closed (a closed figure keeps its axes, lines, texts and images).
"""

import json
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matnet.config import TrainConfig
from matnet.reports import figures as F
from matnet.reports import write_report
from matnet.reports.compare import compare_runs
from matnet.run import train_run

SIZES = {"curves": (1000, 400), "lr": (1000, 400), "confusion": (640, 560), "per_class": (1000, 400),
         "weights": (1000, 600), "predictions": (1000, 600), "mistakes": (1000, 600), "layers": (1000, 600)}


@contextmanager
def record_figures():
    """{file stem: matplotlib Figure} of every figure drawn inside the block."""
    figures, save = {}, F._save

    def recording_save(fig, path):
        figures[Path(path).stem] = fig
        return save(fig, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(F, "_save", recording_save)
        yield figures


@pytest.fixture
def drawn():
    with record_figures() as figures:
        yield figures


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    """(run folder, summary, {figure name: Figure}) of a 3-epoch run of the default MLP with its report."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    summary = train_run(TrainConfig(subset=2000, val_size=1000, epochs=3, out=str(out)), progress=False)
    with record_figures() as figures:
        write_report(out, progress=False)
    return out, summary, figures


@pytest.mark.parametrize("name", list(SIZES))
def test_every_figure_is_a_real_png_of_its_size(tiny_run, name):
    assert name in tiny_run[2], f"{name}.png was not drawn by the report"
    path = tiny_run[0] / "figures" / f"{name}.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == SIZES[name]
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.std() > 10, f"{name}.png looks blank"


def test_the_report_holds_every_figure_and_the_final_figures(tiny_run):
    out, summary, _ = tiny_run
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(SIZES)        # self-contained
    assert "http://" not in page and "https://" not in page                # no network access needed
    assert f'id="test-accuracy">{100 * summary["test_accuracy"]:.2f}%<' in page
    assert 'name="viewport"' in page and "Missing from this run folder" not in page


def hand_run(folder, probabilities, labels, metrics=True):
    folder.mkdir()
    if metrics:
        lines = [{"epoch": 1, "loss": 1.0, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.4},
                 {"epoch": 2, "loss": 0.5, "acc": 0.8, "val_loss": 0.7, "val_acc": 0.6}]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    if probabilities is not None:
        # the run folder's predictions.npz, written directly (what a run writes: float32 probabilities, int64 labels)
        np.savez(folder / "predictions.npz", probabilities=np.asarray(probabilities, np.float32),
                 labels=np.asarray(labels, np.int64))
    return folder


def test_per_class_table_equals_a_hand_computed_case(tmp_path):
    # true:  0 0 1 1 1 2     predicted: 0 1 1 1 2 2   -> confusion [[1,1,0],[0,2,1],[0,0,1]]
    predicted, labels = [0, 1, 1, 1, 2, 2], np.array([0, 0, 1, 1, 1, 2])
    run = hand_run(tmp_path / "hand", np.eye(3)[predicted] * 0.9 + 0.1 / 3, labels)
    write_report(run, progress=False)
    page = (run / "report.html").read_text()
    rows = re.findall(r"<tr><td>(\w+)</td><td>([\d.]+)%</td><td>([\d.]+)%</td><td>([\d.]+)%</td><td>(\d+)</td></tr>",
                      page)
    assert rows == [("0", "100.00", "50.00", "66.67", "2"), ("1", "66.67", "66.67", "66.67", "3"),
                    ("2", "50.00", "100.00", "66.67", "1")]


def test_a_run_with_missing_pieces_still_gets_a_report(tmp_path):
    run = hand_run(tmp_path / "partial", None, None)
    write_report(run, progress=False)
    page = (run / "report.html").read_text()
    assert page.count("data:image/png") == 1                              # the learning curves, from metrics.jsonl
    missing = re.search(r'id="missing">(.*?)</div>', page, re.S).group(1)
    for piece in ("the configuration", "the final figures", "the per-step losses", "the final model",
                  "the test predictions"):
        assert piece in missing


def test_mosaic_and_smoothing_by_hand():
    tiles = np.arange(8.0).reshape(2, 2, 2)
    m = F.mosaic(tiles, columns=2, pad=-1)
    np.testing.assert_array_equal(m, [[0, 1, -1, 4, 5], [2, 3, -1, 6, 7]])
    np.testing.assert_allclose(F.smooth([2.0, 2.0, 2.0]), [2, 2, 2])       # debiased: no pull towards 0
    np.testing.assert_allclose(F.smooth([0.0, 1.0], weight=0.5), [0, 2 / 3])


def test_compare_two_runs(tiny_run, tmp_path):
    other = hand_run(tmp_path / "other", None, None)
    table = compare_runs([tiny_run[0], other], tmp_path / "cmp.png", tmp_path / "cmp.html")
    assert [row["run"] for row in table] == [str(tiny_run[0]), str(other)]
    assert table[0]["test_accuracy"] == tiny_run[1]["test_accuracy"] and table[1]["test_accuracy"] is None
    with Image.open(tmp_path / "cmp.png") as image:
        assert image.size == (1000, 400)
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("<tr>") == 3 and f"{100 * tiny_run[1]['test_accuracy']:.2f}%" in page


def lines(ax):
    """{legend label: (x, y)} of an axes' lines."""
    return {line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for line in ax.get_lines()}


def assert_lines(ax, expected):
    """The axes has exactly the lines ``expected`` ({label: (x, y)}), with that data, and a legend naming them."""
    found = lines(ax)
    assert list(found) == list(expected)
    for label, (x, y) in expected.items():
        np.testing.assert_allclose(found[label][0], x, err_msg=label)
        np.testing.assert_allclose(found[label][1], y, err_msg=label)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(expected)


def cell_texts(ax):
    """{(row, column): text} of the texts drawn in the cells of an image."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


def mosaic_tiles(mosaic, h, w):
    """The (h, w) tiles of a mosaic, row by row, after checking that the one-pixel separators are empty."""
    rows, columns = (mosaic.shape[0] + 1) / (h + 1), (mosaic.shape[1] + 1) / (w + 1)
    assert rows.is_integer() and columns.is_integer(), f"{mosaic.shape} is no mosaic of {h}x{w} tiles"
    assert np.isnan(mosaic[h::h + 1]).all() and np.isnan(mosaic[:, w::w + 1]).all()
    return [mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w]
            for r in range(int(rows)) for c in range(int(columns))]


METRICS = [{"epoch": 1, "loss": 1.2, "acc": 0.61, "val_loss": 1.3, "val_acc": 0.58},
           {"epoch": 2, "loss": 0.6, "acc": 0.83, "val_loss": 0.8, "val_acc": 0.74},
           {"epoch": 3, "loss": 0.4, "acc": 0.90, "val_loss": 0.7, "val_acc": 0.79}]


def test_curves_draw_one_line_per_series_with_its_data(tmp_path, drawn):
    steps = {"loss": [2.0, 1.5, 1.0, 0.9, 0.5, 0.45], "steps_per_epoch": 2}
    F.curves(METRICS, steps, tmp_path / "curves.png")
    loss, acc = drawn["curves"].axes
    per_step = np.arange(1, 7) / 2
    assert_lines(loss, {"train (per batch)": (per_step, steps["loss"]),
                        "train (smoothed)": (per_step, F.smooth(steps["loss"])),
                        "train (epoch)": ([1, 2, 3], [1.2, 0.6, 0.4]),
                        "validation": ([1, 2, 3], [1.3, 0.8, 0.7])})
    assert_lines(acc, {"train": ([1, 2, 3], [61, 83, 90]), "validation": ([1, 2, 3], [58, 74, 79])})
    assert (loss.get_yscale(), loss.get_xlabel(), loss.get_ylabel()) == ("log", "epoch", "loss")
    assert (acc.get_xlabel(), acc.get_ylabel()) == ("epoch", "accuracy (%)")


def test_curves_without_validation_or_steps_draw_only_the_training_lines(tmp_path, drawn):
    train_only = [{key: m[key] for key in ("epoch", "loss", "acc")} for m in METRICS]
    F.curves(train_only, None, tmp_path / "curves.png")
    loss, acc = drawn["curves"].axes
    assert_lines(loss, {"train (epoch)": ([1, 2, 3], [1.2, 0.6, 0.4])})
    assert_lines(acc, {"train": ([1, 2, 3], [61, 83, 90])})


def test_learning_rate_draws_the_schedule(tmp_path, drawn):
    steps = {"lr": [0.01, 0.02, 0.03, 0.03, 0.015], "steps_per_epoch": 5}
    F.learning_rate(steps, tmp_path / "lr.png")
    (ax,) = drawn["lr"].axes
    ((x, y),) = lines(ax).values()
    np.testing.assert_allclose(x, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(y, steps["lr"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "learning rate")


def test_confusion_cells_show_the_counts(tmp_path, drawn):
    # not symmetric, so a transposed matrix fails; zeros get no text; 1,234 images in all
    matrix = np.array([[900, 0, 4], [7, 250, 0], [0, 3, 70]])
    classes = ("cat", "dog", "emu")
    F.confusion(matrix, classes, tmp_path / "confusion.png")
    ax = drawn["confusion"].axes[0]
    cells = cell_texts(ax)
    assert {cell: text.get_text() for cell, text in cells.items()} == \
        {(i, j): str(matrix[i, j]) for i, j in zip(*np.nonzero(matrix))}
    assert cells[0, 0].get_color() == "white" and cells[0, 2].get_color() == "black"   # dark cells get white text
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(classes)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(classes)
    assert ax.get_title() == "Test confusion matrix (1,234 images)"


def test_per_class_bars_are_the_scores_in_percent(tmp_path, drawn):
    scores = {"precision": [0.9, 0.8, 1.0], "recall": [0.95, 0.7, 0.85], "f1": [0.92, 0.75, 0.91]}
    F.per_class_bars(scores, ("a", "b", "c"), tmp_path / "per_class.png")
    ax = drawn["per_class"].axes[0]
    assert [bars.get_label() for bars in ax.containers] == ["precision", "recall", "f1"]
    for bars in ax.containers:
        np.testing.assert_allclose([bar.get_height() for bar in bars], 100 * np.array(scores[bars.get_label()]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


@pytest.mark.parametrize("n,shape,word", [(10, (10, 12), "neurons"), (8, (3, 3), "filters")])
def test_first_layer_draws_one_tile_per_neuron_holding_its_weights(n, shape, word, tmp_path, rng, drawn):
    W = rng.standard_normal((n, shape[0] * shape[1]))
    F.first_layer(W, shape, tmp_path / "weights.png")
    ax = drawn["weights"].axes[0]
    image = ax.images[0]
    tiles = mosaic_tiles(np.ma.filled(image.get_array().astype(float), np.nan), *shape)
    assert len(tiles) >= n
    for i, tile in enumerate(tiles):
        if i < n:
            np.testing.assert_array_equal(tile, W[i].reshape(shape), err_msg=f"tile {i}")
        else:
            assert np.isnan(tile).all(), f"slot {i} after the {n} neurons is not empty"
    limit = np.abs(W).max()
    assert (image.norm.vmin, image.norm.vmax) == (-limit, limit)                  # one scale, centred on zero
    assert ax.get_title().startswith(f"First-layer weights: {n} {word},")


def test_gallery_titles_each_image_with_its_prediction(tmp_path, rng, drawn):
    images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    probabilities = rng.dirichlet(np.ones(3), 30)
    labels = rng.integers(0, 3, 30)
    F.gallery(images, probabilities, labels, ("a", "b", "c"), tmp_path / "predictions.png")
    shown = [ax for ax in drawn["predictions"].axes if ax.images]
    assert len(shown) == 24
    for i, ax in enumerate(shown):
        p = probabilities[i].argmax()
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i])
        assert ax.get_title() == f"{'abc'[p]} ({100 * probabilities[i, p]:.1f}%)"
        assert ax.title.get_color() == ("tab:green" if p == labels[i] else "tab:red")


def test_mistakes_are_the_wrong_ones_most_confident_first(tmp_path, drawn):
    # image i is filled with i; predictions: 0 right, 1 wrong at 60%, 2 wrong at 90%, 3 right, 4 wrong at 70%
    images = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((5, 4, 4), np.uint8)
    probabilities = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8],
                              [0.7, 0.2, 0.1]])
    labels = np.array([0, 0, 1, 2, 1])
    F.mistakes(images, probabilities, labels, ("a", "b", "c"), tmp_path / "mistakes.png")
    fig = drawn["mistakes"]
    shown = [ax for ax in fig.axes if ax.images]
    assert [int(ax.images[0].get_array()[0, 0]) for ax in shown] == [2, 4, 1]
    assert [ax.get_title() for ax in shown] == ["true b, said c\nc:90% a:5% b:5%", "true b, said a\na:70% b:20% c:10%",
                                                "true a, said b\nb:60% a:30% c:10%"]
    assert fig.get_suptitle() == "Most confidently wrong (3 of 5 test images are wrong)"


def test_layer_health_draws_every_layer_in_every_panel(tmp_path, drawn):
    stats = {"steps": [10, 20, 30],
             "weights": {"dense0.W": {"weight_norm": [1, 2, 3], "grad_norm": [0.1, 0.2, 0.3],
                                      "update_ratio": [1e-3, 2e-3, 3e-3]},
                         "dense1.W": {"weight_norm": [4, 5, 6], "grad_norm": [0.4, 0.5, 0.6],
                                      "update_ratio": [4e-3, 5e-3, 6e-3]}},
             "dead": {"epochs": [1, 2], "relu0": [0.1, 0.2]}}
    F.layer_health(stats, 10, tmp_path / "layers.png")
    panels = [ax for ax in drawn["layers"].axes if ax.get_lines()]
    assert len(panels) == 4
    for ax, key in zip(panels, ("weight_norm", "grad_norm", "update_ratio")):
        found = lines(ax)
        for name in ("dense0", "dense1"):
            np.testing.assert_allclose(found[name][0], [1, 2, 3])
            np.testing.assert_allclose(found[name][1], stats["weights"][f"{name}.W"][key])
    reference = [y for label, (_, y) in lines(panels[2]).items() if label not in ("dense0", "dense1")]
    np.testing.assert_array_equal(reference, [[1e-3, 1e-3]])                     # the dashed 1e-3 line
    np.testing.assert_allclose(lines(panels[3])["relu0"][1], [10, 20])


def test_the_tiny_runs_figures_show_its_data(tiny_run):
    out, _, figures = tiny_run
    with np.load(out / "predictions.npz") as stored:
        probabilities, labels = stored["probabilities"], stored["labels"]
    counts = np.zeros((10, 10), int)
    np.add.at(counts, (labels, probabilities.argmax(axis=1)), 1)
    cells = cell_texts(figures["confusion"].axes[0])
    assert {cell: int(text.get_text()) for cell, text in cells.items()} == \
        {(i, j): counts[i, j] for i, j in zip(*np.nonzero(counts))}
    hidden = TrainConfig().layers[1]                                            # the default MLP's first layer
    with np.load(out / "model.npz") as stored:
        (W,) = [stored[key] for key in stored.files if stored[key].shape == (hidden, 784)]
    ax = figures["weights"].axes[0]
    tiles = mosaic_tiles(np.ma.filled(ax.images[0].get_array().astype(float), np.nan), 28, 28)
    for i in range(hidden):
        np.testing.assert_array_equal(tiles[i], W[i].reshape(28, 28), err_msg=f"neuron {i}")
    assert all(np.isnan(tile).all() for tile in tiles[hidden:])
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert_lines(figures["curves"].axes[1], {"train": ([1, 2, 3], [100 * m["acc"] for m in metrics]),
                                             "validation": ([1, 2, 3], [100 * m["val_acc"] for m in metrics])})


def test_reading_a_run_writes_nothing_and_the_report_fills_in_its_test_predictions(tmp_path, mnist):
    """A model copied into a folder by hand: ``read_run`` only reads (predictions listed as missing, nothing
    written); the report computes them from the model and the cached test set and saves them."""
    from matnet.architectures import build_mlp
    from matnet.runfolder import RunFolder, read_run

    model = build_mlp([784, 8, 10], seed=2, preprocessing={"dataset": "mnist"})
    folder = RunFolder(tmp_path / "copied")
    folder.save_model(model)
    before = sorted(p.name for p in folder.path.iterdir())
    run = read_run(folder.path)
    assert run.probabilities is None and any(what.startswith("the test predictions") for what in run.missing)
    assert sorted(p.name for p in folder.path.iterdir()) == before
    write_report(folder.path, progress=False)
    with np.load(folder.path / "predictions.npz") as stored:
        expected = model.predict_proba(mnist.test_images.reshape(len(mnist.test_images), -1) / 255.0)
        np.testing.assert_allclose(stored["probabilities"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(stored["labels"], mnist.test_labels)
    assert read_run(folder.path).probabilities is not None
