"""c/: the MLP trained in plain C. From matnet's initial weights and batch order its first 50 losses are matnet's
(within 1e-4, relative), and the model it writes is a matnet model file that `matnet evaluate` and `export` read."""

from __future__ import annotations

import gzip
import json
import tomllib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from export_support import SANITIZE, compile_c, matnet
from matnet import Momentum, build_mlp
from matnet.data.idx import write_idx
from matnet.data.prepare import normalize
from matnet.data.sources import PARTS
from matnet.model_file import load_model
from matnet.train import Callback
from matnet.train.trainer import Trainer

C_DIR = Path(__file__).resolve().parents[2] / "c"
MAKE_FLAGS = ["-O3", "-std=c99", "-Wall", "-Wextra", "-pedantic"]          # the Makefile's `c` target
TRAIN_SIZE, SEED = 10_000, 5


@pytest.fixture(scope="module")
def trainer(cc, tmp_path_factory):
    """c/*.c built as `make c` builds it, into a temporary folder (no warning allowed)."""
    return compile_c(cc, sorted(C_DIR.glob("*.c")), tmp_path_factory.mktemp("c") / "mnist-train", flags=MAKE_FLAGS)


def write_idx_dir(folder: Path, mnist, train_size: int | None) -> Path:
    """The four raw IDX files the trainer reads (what c/write_idx.py writes), the first ``train_size`` training
    images only."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_images": mnist.train_images[:train_size], "train_labels": mnist.train_labels[:train_size],
              "test_images": mnist.test_images, "test_labels": mnist.test_labels}
    for part, stem in PARTS.items():
        write_idx(arrays[part], folder / stem)
    return folder


@pytest.fixture(scope="module")
def idx10k(mnist, tmp_path_factory):
    return write_idx_dir(tmp_path_factory.mktemp("idx"), mnist, TRAIN_SIZE)


def train_c(trainer, *args, check=True, timeout=300):
    done = subprocess.run([str(trainer), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0 and not done.stderr, done.stderr
    return done


def matnet_losses(mnist, model, steps: int) -> list[float]:
    """matnet's Trainer, Momentum(0.1, 0.9), constant lr, no weight decay: the first ``steps`` losses."""
    losses = []

    class Record(Callback):
        def on_batch_end(self, trainer, step, loss):
            losses.append(loss)
            if len(losses) == steps:
                trainer.stop_training = True

    x = normalize(mnist.train_images[:TRAIN_SIZE])
    y = mnist.train_labels[:TRAIN_SIZE].astype(np.int64)
    Trainer(model, optimizer=Momentum(0.1, 0.9), epochs=1, batch_size=128, seed=SEED, callbacks=[Record()]).fit(x, y)
    return losses[:steps]


def test_c_follows_matnet_and_writes_a_matnet_model(trainer, idx10k, mnist, tmp_path, capsys):
    model = build_mlp([784, 128, 64, 10], seed=SEED)
    arrays = model.parameters.arrays()
    init = np.concatenate([np.r_[arrays[f"dense_{k}.W"].ravel(), arrays[f"dense_{k}.b"]] for k in (1, 2, 3)])
    init.astype("<f4").tofile(tmp_path / "init.f32")
    order = np.random.default_rng(SEED).permutation(TRAIN_SIZE)      # what the Trainer's rng draws for epoch 1
    order.astype("<i4").tofile(tmp_path / "order.i32")
    run = tmp_path / "run"
    run.mkdir()
    done = train_c(trainer, "--data", idx10k, "--out", run, "--epochs", 1, "--schedule", "constant", "--lr", 0.1,
                   "--momentum", 0.9, "--init", tmp_path / "init.f32", "--order", tmp_path / "order.i32")
    assert "test accuracy" in done.stdout

    steps = json.loads((run / "steps.json").read_text())
    assert steps["steps_per_epoch"] == 79 and len(steps["loss"]) == 79
    expected = matnet_losses(mnist, model, 50)
    np.testing.assert_allclose(steps["loss"][:50], expected, rtol=1e-4)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.85                             # one epoch on 10,000 images
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["subset"] == TRAIN_SIZE == summary["train_size"]     # the images the folder held, no flag given
    trained = load_model(run / "model")
    assert [type(layer).__name__ for layer in trained.layers] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    code, out, err = matnet(capsys, "evaluate", str(run), "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(summary["test_accuracy"], abs=3e-4)   # float32 sums differ
    assert json.loads(out)["loss"] == pytest.approx(summary["test_loss"], rel=1e-3)

    code, _, err = matnet(capsys, "export", str(run), "--format", "c", "-o", str(tmp_path / "exported"))
    assert code == 0 and (tmp_path / "exported" / "model.c").is_file(), err


def test_c_trainer_is_clean_under_sanitizers(cc, mnist, tmp_path):
    asan = compile_c(cc, sorted(C_DIR.glob("*.c")), tmp_path / "mnist-train-asan", flags=SANITIZE)
    data = write_idx_dir(tmp_path / "idx", mnist, 1000)
    (tmp_path / "run").mkdir()
    done = train_c(asan, "--data", data, "--out", tmp_path / "run", "--epochs", 2, "--batch", 100)
    assert "test accuracy" in done.stdout
    load_model(tmp_path / "run" / "model")


def test_bad_input_is_a_clear_error(trainer, idx10k, mnist, tmp_path):
    gz = tmp_path / "gz"
    gz.mkdir()
    for stem in PARTS.values():
        (gz / stem).write_bytes(gzip.compress((idx10k / stem).read_bytes()[:1000]))
    cases = {("--data", gz): "gunzip it first", ("--data", tmp_path / "none"): "cannot open",
             ("--data", idx10k, "--frobnicate", 1): "unknown option",
             ("--data", idx10k, "--init", tmp_path / "short.f32"): "fewer values",
             ("--data", idx10k, "--schedule", "step"): "cosine or constant"}
    np.zeros(10, "<f4").tofile(tmp_path / "short.f32")
    for args, words in cases.items():
        done = train_c(trainer, *args, check=False)
        assert done.returncode == 1 and words in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_out_folder_is_made_and_a_run_is_never_overwritten_silently(trainer, idx10k, tmp_path):
    """As `matnet train`: --out is made (parents too); a folder that holds a run is refused in one line unless
    --force, which removes the run's files (the report and figures of the old run too) and nothing else; an export
    of the old run inside it is refused rather than left stale beside the new run."""
    out = tmp_path / "runs" / "c"
    quick = ("--data", idx10k, "--epochs", 1, "--train-size", 300, "--layers", "784,16,10")
    done = train_c(trainer, *quick, "--out", out)
    assert "batch 128, 1 epoch\n" in done.stdout and "1 epochs" not in done.stdout
    summary = (out / "summary.json").read_text()
    (out / "report.html").write_text("<html>the old run</html>")
    (out / "figures").mkdir()
    (out / "figures" / "curves.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")

    done = train_c(trainer, *quick, "--seed", 1, "--out", out, check=False)
    assert done.returncode == 1 and not done.stdout, done.stdout
    assert done.stderr.strip() == f"mnist-train: {out} already holds a run: choose another --out, or add --force " \
                                  "to replace it", done.stderr
    assert (out / "summary.json").read_text() == summary and (out / "report.html").is_file()

    (out / "exported").mkdir()
    done = train_c(trainer, *quick, "--seed", 1, "--out", out, "--force", check=False)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "exported" in done.stderr and (out / "report.html").is_file()
    (out / "exported").rmdir()

    train_c(trainer, *quick, "--seed", 1, "--out", out, "--force")
    assert (out / "summary.json").read_text() != summary
    assert not (out / "report.html").exists() and not (out / "figures" / "curves.png").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "figures", "metrics.jsonl", "model.json",
                                                    "model.npz", "notes.txt", "steps.json", "summary.json"]

    copied = tmp_path / "copied"                             # a model copied in by hand is a run, as for matnet
    copied.mkdir()
    (copied / "model.json").write_text("{}")
    done = train_c(trainer, *quick, "--out", copied, check=False)
    assert done.returncode == 1 and "already holds a run" in done.stderr
    (tmp_path / "file").write_text("")
    for where in (tmp_path / "file", tmp_path / "file" / "below"):
        done = train_c(trainer, *quick, "--out", where, check=False)
        assert done.returncode == 1 and done.stderr.strip() == f"mnist-train: {tmp_path / 'file'} is a file, not a " \
                                                               "folder: choose another --out", done.stderr


@pytest.mark.slow
def test_c_trainer_reaches_97_5_percent(trainer, mnist, tmp_path):
    """The defaults (5 epochs, momentum 0.9, lr 0.1 cosine, batch 128) on all 60,000 training images."""
    data = write_idx_dir(tmp_path / "idx", mnist, None)
    (tmp_path / "run").mkdir()
    train_c(trainer, "--data", data, "--out", tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.975 and summary["train_size"] == 60_000
