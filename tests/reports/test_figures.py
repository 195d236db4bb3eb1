"""Figures and the report from a tiny real run, and from run folders made by hand."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from matnet.config import TrainConfig
from matnet.reports import figures as F
from matnet.reports import write_report
from matnet.reports.compare import compare_runs
from matnet.run import save_predictions, train_run

SIZES = {"curves": (1000, 400), "lr": (1000, 400), "confusion": (640, 560), "per_class": (1000, 400),
         "weights": (1000, 600), "predictions": (1000, 600), "mistakes": (1000, 600), "layers": (1000, 600)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    summary = train_run(TrainConfig(subset=2000, val_size=1000, epochs=3, out=str(out)), progress=False)
    write_report(out, progress=False)
    return out, summary


@pytest.mark.parametrize("name", list(SIZES))
def test_every_figure_is_a_real_png_of_its_size(tiny_run, name):
    path = tiny_run[0] / "figures" / f"{name}.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == SIZES[name]
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.std() > 10, f"{name}.png looks blank"


def test_the_report_holds_every_figure_and_the_final_figures(tiny_run):
    out, summary = tiny_run
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
        save_predictions(folder / "predictions.npz", probabilities, labels)
    return folder


def test_per_class_table_equals_a_hand_computed_case(tmp_path):
    # true:  0 0 1 1 1 2     predicted: 0 1 1 1 2 2   -> confusion [[1,1,0],[0,2,1],[0,0,1]]
    predicted, labels = [0, 1, 1, 1, 2, 2], np.array([0, 0, 1, 1, 1, 2])
    run = hand_run(tmp_path / "hand", np.eye(3)[predicted] * 0.9 + 0.1 / 3, labels)
    page = write_report(run, progress=False).read_text()
    rows = re.findall(r"<tr><td>(\w+)</td><td>([\d.]+)%</td><td>([\d.]+)%</td><td>([\d.]+)%</td><td>(\d+)</td></tr>",
                      page)
    assert rows == [("0", "100.00", "50.00", "66.67", "2"), ("1", "66.67", "66.67", "66.67", "3"),
                    ("2", "50.00", "100.00", "66.67", "1")]


def test_a_run_with_missing_pieces_still_gets_a_report(tmp_path):
    run = hand_run(tmp_path / "partial", None, None)
    page = write_report(run, progress=False).read_text()
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
