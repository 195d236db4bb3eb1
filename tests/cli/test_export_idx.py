"""`matnet data export-idx`: a cached dataset as the four raw IDX files the C trainer (c/) reads, never over files
already there without --force; `c/write_idx.py`, its script, says what to do when matnet cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from matnet.cli.main import main
from matnet.data.idx import read_idx
from matnet.data.sources import PARTS

SCRIPT = Path(__file__).resolve().parents[2] / "c" / "write_idx.py"


def matnet(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_idx_writes_the_four_files_and_never_overwrites_them(mnist, tmp_path, capsys):
    folder = tmp_path / "data" / "mnist-idx"                       # parents are made
    code, out, err = matnet(capsys, "data", "export-idx", "mnist", str(folder), "--train-size", "100")
    assert code == 0 and not err, err
    assert sorted(p.name for p in folder.iterdir()) == sorted(PARTS.values())
    np.testing.assert_array_equal(read_idx(folder / PARTS["train_images"]), mnist.train_images[:100])
    np.testing.assert_array_equal(read_idx(folder / PARTS["train_labels"]), mnist.train_labels[:100])
    np.testing.assert_array_equal(read_idx(folder / PARTS["test_images"]), mnist.test_images)
    np.testing.assert_array_equal(read_idx(folder / PARTS["test_labels"]), mnist.test_labels)
    assert "100 train + 10,000 test" in out and f"--data {folder}" in out

    code, out, err = matnet(capsys, "data", "export-idx", "mnist", str(folder))
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("matnet: error: "), err
    assert "--force" in lines[0] and PARTS["train_images"] in lines[0]
    assert len(read_idx(folder / PARTS["train_labels"])) == 100          # untouched

    code, _, err = matnet(capsys, "data", "export-idx", "mnist", str(folder), "--train-size", "200", "--force")
    assert code == 0 and len(read_idx(folder / PARTS["train_labels"])) == 200, err

    (tmp_path / "file").write_text("")
    code, _, err = matnet(capsys, "data", "export-idx", "mnist", str(tmp_path / "file"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "is a file" in err, err


def test_write_idx_script_without_matnet_is_one_line(tmp_path):
    """`python c/write_idx.py` outside the virtual environment: no traceback, the command to use instead."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([sys.executable, "-S", str(SCRIPT), str(tmp_path / "idx")], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "matnet data export-idx" in lines[0] and "activate" in lines[0], done.stderr
    assert not (tmp_path / "idx").exists()


def test_write_idx_script_is_the_command(mnist, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "idx"), "--train-size", "50"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(read_idx(tmp_path / "idx" / PARTS["train_labels"])) == 50
    again = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "idx")], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1 and "--force" in again.stderr
