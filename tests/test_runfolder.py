"""The run folder: its file names live in one module, writes stay inside it, reads say what is missing."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

import matnet
from matnet import build_mlp, load_model
from matnet import runfolder as R
from matnet.errors import MatnetError
from matnet.reports.compare import compare_runs

ROOT = Path(matnet.__file__).parent
NAMES = [R.CONFIG, R.METRICS, R.STEPS, R.LAYER_STATS, R.SUMMARY, R.CHECKPOINT, R.PREDICTIONS, R.REPORT,
         f"{R.MODEL}.npz", f"{R.MODEL}.json", f"{R.BEST}.npz", f"{R.BEST}.json"]


def code_strings(path: Path) -> list[str]:
    """The string constants of a module's code (docstrings and help texts aside: they may name the files)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    helps = {id(kw.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "help"}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings | helps]


def test_every_run_folder_name_is_spelled_in_one_module_only():
    """(``figures`` is left out: a word too common to tell the folder from the JSON key of the same name.)"""
    spelled = {}
    for path in ROOT.rglob("*.py"):
        for text in code_strings(path):
            for name in NAMES:
                if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text):   # not report.html.j2
                    spelled.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    assert spelled.get(R.CONFIG) == {"runfolder.py"}         # the scan does find what it looks for
    others = {name: where for name, where in spelled.items() if where != {"runfolder.py"}}
    assert not others, f"run-folder names spelled outside runfolder.py: {others}"


def test_a_symlink_out_of_the_run_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "figures").symlink_to(outside, target_is_directory=True)
    folder = R.RunFolder(run)
    with pytest.raises(MatnetError, match="leads out of the run folder"):
        folder.figure("curves")
    folder.write_summary({"test_accuracy": 0.5})              # a file directly inside is written as usual
    assert list(outside.iterdir()) == []
    assert json.loads((run / R.SUMMARY).read_text()) == {"test_accuracy": 0.5}


def test_writes_are_atomic_and_read_back(tmp_path):
    folder = R.RunFolder(tmp_path / "run")
    folder.create()
    epochs = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    folder.write_metrics(epochs)
    folder.write_steps({"steps_per_epoch": 2, "loss": [1.0, 0.5], "lr": [0.1, 0.1]})
    probabilities = np.full((3, 2), 0.5, np.float32)
    folder.write_predictions(probabilities, [0, 1, 1])
    assert folder.read_metrics() == epochs
    assert folder.read_steps()["loss"] == [1.0, 0.5]
    back, labels = folder.read_predictions()
    np.testing.assert_array_equal(back, probabilities)
    assert labels.tolist() == [0, 1, 1] and labels.dtype == np.int64
    assert sorted(p.name for p in folder.path.iterdir()) == sorted([R.METRICS, R.STEPS, R.PREDICTIONS])  # no temp
    with pytest.raises(FileNotFoundError):
        folder.read_summary()
    (folder.path / R.SUMMARY).write_text("{broken")
    with pytest.raises(MatnetError, match="summary.json is unreadable"):
        folder.read_summary()


def test_read_run_lists_what_is_missing(tmp_path):
    folder = R.RunFolder(tmp_path / "partial")
    folder.create()
    folder.write_metrics([{"epoch": 1, "loss": 1.0, "acc": 0.5}])
    run = R.read_run(folder.path)
    assert run.metrics == [{"epoch": 1, "loss": 1.0, "acc": 0.5}]
    assert run.model is None and run.probabilities is None
    missing = " / ".join(run.missing)
    for what in ("the configuration", "the final figures", "the per-step losses", "the layer statistics",
                 "the final model", "the test predictions"):
        assert what in missing
    assert "the per-epoch metrics" not in missing
    with pytest.raises(MatnetError, match="no such run folder"):
        R.read_run(tmp_path / "nope")


def test_load_model_takes_run_folders_and_model_files_and_names_what_is_wrong(tmp_path):
    folder = R.RunFolder(tmp_path / "run")
    folder.save_model(build_mlp([4, 3, 2], seed=1))
    folder.save_best(build_mlp([4, 3, 2], seed=2))
    from_folder, best = load_model(folder.path), folder.load_model(R.BEST)
    np.testing.assert_array_equal(from_folder.parameters.values, build_mlp([4, 3, 2], seed=1).parameters.values)
    np.testing.assert_array_equal(best.parameters.values, build_mlp([4, 3, 2], seed=2).parameters.values)
    assert load_model(folder.path / "model.json").num_params == from_folder.num_params
    with pytest.raises(MatnetError, match="nope: no run folder or model file of that name"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MatnetError, match="a folder with no model in it"):
        load_model(tmp_path / "empty")
    with pytest.raises(ValueError, match="not 'latest'"):
        folder.model_file("latest")


def test_find_run_from_a_model_file_inside_it(tmp_path):
    folder = R.RunFolder(tmp_path / "run")
    folder.save_model(build_mlp([4, 2]))
    assert R.find_run(folder.path / "model.npz").path == folder.path
    assert R.find_run(folder.path).path == folder.path
    assert R.find_run(tmp_path) is None


def test_compare_writes_only_its_outputs(tmp_path, mnist):
    """A run without test predictions (which the report would compute and save) is only read by compare."""
    runs = []
    for k in range(2):
        folder = R.RunFolder(tmp_path / f"run{k}")
        folder.save_model(build_mlp([784, 8, 10], seed=k, preprocessing={"dataset": "mnist"}))
        folder.write_metrics([{"epoch": 1, "loss": 1.0 - k / 4, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.4}])
        folder.write_summary({"test_accuracy": 0.5, "test_loss": 1.0, "epochs": 1, "train_seconds": 1.0})
        runs.append(folder.path)
    before = {path: sorted(p.name for p in path.iterdir()) for path in runs}
    table = compare_runs(runs, tmp_path / "out" / "compare.png", tmp_path / "out" / "compare.html")
    assert [row["run"] for row in table] == [str(path) for path in runs]
    assert {path: sorted(p.name for p in path.iterdir()) for path in runs} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["compare.html", "compare.png"]


def test_a_last_metrics_line_cut_short_is_dropped_and_only_that(tmp_path, capsys):
    folder = R.RunFolder(tmp_path)
    (tmp_path / R.METRICS).write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.25}\n{"epoch": 3, "lo')
    assert folder.read_metrics() == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    assert capsys.readouterr().err == ""                               # a crash's last line: dropped quietly
    (tmp_path / R.METRICS).write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "lo\n{"epoch": 3, "loss": 0.1}\n')
    assert folder.read_metrics() == [{"epoch": 1, "loss": 0.5}, {"epoch": 3, "loss": 0.1}]   # only line 2 lost
    assert capsys.readouterr().err.startswith(f"matnet: warning: {tmp_path / R.METRICS}: line 2 is not JSON")


def test_create_refuses_an_existing_run_and_force_removes_only_its_files(tmp_path):
    folder = R.RunFolder(tmp_path / "run")
    folder.create()
    folder.write_summary({"test_accuracy": 0.9})
    folder.figure("curves").write_bytes(b"png")
    (folder.path / "mine.txt").write_text("keep")
    with pytest.raises(MatnetError, match="already holds a run"):
        folder.create()
    folder.create(force=True)
    assert sorted(p.relative_to(folder.path).as_posix() for p in folder.path.rglob("*")) == ["figures", "mine.txt"]
