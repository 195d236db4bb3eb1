"""The device switch, and the strict stand-in for a GPU that proves the promises of ``matnet/backend.py`` here.

On the stand-in (NumPy underneath, a GPU's rules on top) a training run gives the very numbers NumPy gives, and
the transfer counter shows that a step reads nothing back from the device: the count of a run depends on its
epochs, not on its steps. Putting a ``float(loss)`` back into the step makes these tests fail (StrictError).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from matnet import backend
from matnet.backend import DeviceRandom, to_device, to_host, to_numpy, transfers, use_device, xp
from matnet.cli.main import main
from matnet.config import TrainConfig
from matnet.errors import MatnetError
from matnet.architectures import build_mlp
from matnet.nn import Dropout
from matnet.nn.gradcheck import standard_checks
from matnet.optim import Momentum
from matnet.run import train_run
from matnet.strict import StrictError
from matnet.train import Callback, LayerStats, StepLog, Trainer
from matnet.train.trainer import TrainingInterrupted


@pytest.fixture
def on_device():
    """``on_device(name)`` switches the device for the rest of the test; the one before comes back after it."""
    before = backend.device()
    yield use_device
    use_device(before)


# --- the stand-in's rules ---------------------------------------------------------------------------------------
HIDDEN_READS = {
    "float": lambda a: float(a.sum()),
    "int": lambda a: int(a.sum()),
    "bool": lambda a: bool((a > 0).all()),
    "if": lambda a: 1 if a.sum() else 0,
    "item": lambda a: a.sum().item(),
    "tolist": lambda a: a.tolist(),
    "np.asarray": lambda a: np.asarray(a),
    "format": lambda a: f"{a.sum():.4f}",
    "host array in an operation": lambda a: a + np.ones(a.shape, np.float32),
    "host array as an index": lambda a: a[np.array([0, 1])],
    "host array written in": lambda a: a.__setitem__(slice(None), np.zeros(a.shape, np.float32)),
    "list of device scalars to asarray": lambda a: xp.asarray([a.sum(), a.sum()]),
}


@pytest.mark.parametrize("name", list(HIDDEN_READS))
def test_the_stand_in_refuses_what_a_gpu_would_not_do_quietly(name, on_device):
    on_device("strict")
    a = xp.arange(6, dtype=xp.float32).reshape(2, 3)
    with pytest.raises(StrictError):
        HIDDEN_READS[name](a)


def test_the_stand_in_computes_what_numpy_computes_and_counts_each_read(on_device, rng):
    host = rng.standard_normal((5, 4)).astype(np.float32)
    expected = np.tanh(host @ host.T).sum(axis=1) * 2.0 - host.max()
    on_device("strict")
    a = to_device(host)
    result = xp.tanh(a @ a.T).sum(axis=1) * 2.0 - a.max()
    before = transfers.count
    np.testing.assert_array_equal(to_numpy(result), expected)
    assert to_host(a.max()) == float(host.max())
    assert transfers.count - before == 2
    a[0] = 7                                   # writes and scalars mix freely
    a += 1
    assert to_host(a[0, 0]) == 8.0


def test_device_random_draws_the_numpy_numbers_on_every_device_and_restores(on_device):
    expected = np.random.default_rng(3).random((4, 5), dtype=np.float32)
    on_device("strict")
    rng = DeviceRandom(3)
    state = rng.state
    draw = rng.random((4, 5), dtype=np.float32)
    assert isinstance(draw, xp.ndarray)
    np.testing.assert_array_equal(to_numpy(draw), expected)
    rng.state = state
    np.testing.assert_array_equal(to_numpy(rng.random((4, 5), dtype=np.float32)), expected)


# --- choosing the device ----------------------------------------------------------------------------------------
def test_an_unknown_device_is_named(on_device):
    with pytest.raises(MatnetError, match="unknown device 'tpu': choose one of cpu, cuda, strict"):
        on_device("tpu")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_without_cupy_is_one_line_that_says_what_to_install(capsys, on_device):
    assert main(["train", "--device", "cuda", "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install cupy-cuda12x" in err[0] and "cupy-cuda13x" in err[0], err
    assert backend.device() != "cuda"


# --- training on the stand-in: NumPy's numbers, no read per step -------------------------------------------------
def _train(n: int, device: str, epochs: int = 2):
    """A small MLP with Dropout, clipping, augmentation, validation, LayerStats and StepLog, on ``device``;
    returns (weights, history, step losses, layer stats, transfers made by fit)."""
    use_device(device)
    gen = np.random.default_rng(0)
    x, y = gen.random((n, 64), dtype=np.float32), gen.integers(0, 3, n)
    xv, yv = gen.random((32, 64), dtype=np.float32), gen.integers(0, 3, 32)
    from matnet.data.augment import Augment

    model = build_mlp([64, 16, 3], dropout=0.3, seed=1)
    x, y, xv, yv = (to_device(a) for a in (x, y, xv, yv))
    steps, stats = StepLog(), LayerStats(xv, max_every=4)
    trainer = Trainer(model, optimizer=Momentum(0.05), epochs=epochs, batch_size=16, clip_norm=1.0,
                      callbacks=[steps, stats], augment=Augment((8, 8), rng=DeviceRandom(5)))
    before = transfers.count
    history = trainer.fit(x, y, validation_data=(xv, yv))
    count = transfers.count - before
    return to_numpy(model.parameters.values), history.epochs, steps.record, stats.record, count


def _without_seconds(epochs):
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in epochs]


def test_a_run_on_the_stand_in_equals_numpy_and_reads_per_epoch_not_per_step(on_device):
    weights, history, steps, stats, _ = _train(160, "cpu")
    on_device("strict")
    s_weights, s_history, s_steps, s_stats, count = _train(160, "strict")
    np.testing.assert_array_equal(weights, s_weights)
    assert _without_seconds(history) == _without_seconds(s_history)
    assert steps == s_steps and stats == s_stats
    # 10 and 20 steps an epoch (both under the trainer's read_every): the same reads
    count_twice_the_steps = _train(320, "strict")[4]
    assert count == count_twice_the_steps
    # and a fixed number per epoch: a third epoch adds the same reads as the second
    count_three_epochs = _train(160, "strict", epochs=3)[4]
    assert count_three_epochs - count == count - _train(160, "strict", epochs=1)[4]
    assert count - _train(160, "strict", epochs=1)[4] <= 6


def test_a_float_of_the_loss_in_the_step_is_caught(on_device, monkeypatch):
    """The mutation the stand-in exists for: the old step's ``float(loss)``, put back, fails at once."""
    from matnet.train import trainer as trainer_module

    step = trainer_module.train_step

    def step_with_a_read(*args, **kwargs):
        loss, logits = step(*args, **kwargs)
        float(loss)
        return loss, logits

    monkeypatch.setattr(trainer_module, "train_step", step_with_a_read)
    on_device("strict")
    with pytest.raises(StrictError, match="float"):
        _train(32, "strict", epochs=1)


def test_every_gradient_check_passes_on_the_stand_in_with_numpy_s_errors(on_device):
    expected = {result.name: result.errors for result in standard_checks(seed=0)}
    on_device("strict")
    assert {result.name: result.errors for result in standard_checks(seed=0)} == expected


def test_dropout_masks_are_drawn_on_the_device(on_device):
    on_device("strict")
    layer = Dropout(0.5)
    layer.reset_parameters(np.random.default_rng(0))
    out = layer.forward(xp.ones((4, 6), dtype=xp.float32), training=True)
    assert isinstance(layer._cache, xp.ndarray) and isinstance(out, xp.ndarray)


# --- the commands, on the stand-in: the run folder, evaluate, predict, gradcheck, resume ------------------------
RUN = dict(subset=5500, val_size=500, epochs=2, batch_size=50, dropout=0.2, augment=True, optimizer="adam",
           lr=2e-3)   # 100 steps an epoch


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist):
    """The same small run with Dropout and augmentation, on NumPy and on the stand-in."""
    folder = tmp_path_factory.mktemp("device")
    made = {}
    for device in ("cpu", "strict"):
        use_device(device)
        try:
            made[device] = folder / device
            train_run(TrainConfig(**RUN, out=str(made[device])), progress=False)
        finally:
            use_device("cpu")
    return made


def _same_files(a, b):
    for name in ("model", "best"):
        with np.load(a / f"{name}.npz") as x, np.load(b / f"{name}.npz") as y:
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}.npz {key}")
    for name in ("steps.json", "layer_stats.json"):
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text()), name
    lines = [[{k: v for k, v in json.loads(line).items() if k != "seconds"}
              for line in (p / "metrics.jsonl").read_text().splitlines()] for p in (a, b)]
    assert lines[0] == lines[1]


def test_a_run_folder_made_on_the_stand_in_equals_numpy_s(runs):
    _same_files(runs["cpu"], runs["strict"])
    summary = json.loads((runs["strict"] / "summary.json").read_text())
    assert summary["device"] == "strict"


def test_evaluate_predict_and_gradcheck_on_the_stand_in(runs, capsys, on_device, mnist, tmp_path):
    import matplotlib.image

    image = tmp_path / "seven.png"
    matplotlib.image.imsave(image, 255 - mnist.test_images[0], cmap="gray", vmin=0, vmax=255)
    outputs = {}
    for device in ("cpu", "strict"):
        for command in (["evaluate", "--json"], ["predict", "--json"]):
            args = [command[0], "--device", device, str(runs["cpu"]), *command[1:]]
            if command[0] == "predict":
                args.append(str(image))
            assert main(args) == 0
            outputs[device, command[0]] = json.loads(capsys.readouterr().out)
        on_device("cpu")
    assert outputs["cpu", "evaluate"] == outputs["strict", "evaluate"]
    assert outputs["cpu", "predict"] == outputs["strict", "predict"]
    assert main(["gradcheck", "--device", "strict", str(runs["strict"])]) == 0


def test_the_report_and_the_server_work_from_the_device(runs, on_device, mnist, tmp_path):
    """Two places that once read device arrays as if they were NumPy's: the report's weights figure (lost
    without a word) and the server's forward pass (a host image into a device network)."""
    import shutil

    from matnet.reports.report import write_report
    from matnet.serve.models import ServedModel

    on_device("strict")
    folder = tmp_path / "run"
    shutil.copytree(runs["strict"], folder)
    report = write_report(folder, progress=False)
    assert "weights.png" in [path.name for path in report.figures] and not report.missing
    served = ServedModel.open(folder)
    answer = served.predict(mnist.test_images[0] / np.float32(255), layers=True, explain=True)
    on_device("cpu")
    expected = ServedModel.open(folder).predict(mnist.test_images[0] / np.float32(255), layers=True, explain=True)
    assert answer == expected


def test_a_run_resumed_on_the_stand_in_equals_the_uninterrupted_one(runs, tmp_path, monkeypatch, on_device):
    from matnet.train import trainer as trainer_module

    class StopAt(Callback):
        def on_batch_end(self, trainer, step, loss):
            if trainer.epochs_done == 1 and step == 60:
                raise KeyboardInterrupt

    real_init = trainer_module.Trainer.__init__

    def init_with_stop(self, *args, callbacks=(), **kwargs):
        real_init(self, *args, callbacks=[*callbacks, StopAt()], **kwargs)

    out = tmp_path / "stopped"
    on_device("strict")
    monkeypatch.setattr(trainer_module.Trainer, "__init__", init_with_stop)
    with pytest.raises(TrainingInterrupted):
        train_run(TrainConfig(**RUN, out=str(out)), progress=False)
    monkeypatch.undo()
    train_run(TrainConfig(**RUN, out=str(out)), progress=False, resume=True)
    _same_files(runs["cpu"], out)


def test_the_cnn_preset_with_augmentation_on_the_stand_in_equals_numpy(tmp_path, mnist, on_device):
    from matnet.config import PRESETS

    settings = {**PRESETS["cnn"], "subset": 3400, "val_size": 200, "epochs": 2, "batch_size": 32, "augment": True,
                "filters": [4, 8], "dense": 16}     # 100 steps an epoch, a small network: seconds
    for device in ("cpu", "strict"):
        on_device(device)
        train_run(TrainConfig(**{**settings, "out": str(tmp_path / device)}), progress=False)
    _same_files(tmp_path / "cpu", tmp_path / "strict")


def test_info_names_the_device(capsys, on_device):
    assert main(["info"]) == 0
    assert capsys.readouterr().out == f"device: cpu, numpy {np.__version__}\n"
    assert main(["info", "--device", "strict", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"]["device"] == "strict"
    assert backend.device() == "strict"


# --- on a real GPU, where there is one --------------------------------------------------------------------------
def _gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no GPU
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="needs CuPy and an NVIDIA GPU")
def test_a_run_on_the_gpu_learns_repeats_itself_and_predicts_the_same_on_the_cpu(tmp_path, mnist, on_device):
    from matnet import load_model

    for name in ("a", "b"):
        on_device("cuda")
        train_run(TrainConfig(**RUN, out=str(tmp_path / name)), progress=False)
    _same_files(tmp_path / "a", tmp_path / "b")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["device"] == "cuda" and summary["test_accuracy"] > 0.8
    with np.load(tmp_path / "a" / "predictions.npz") as saved:
        on_gpu = saved["probabilities"]
    on_device("cpu")
    from matnet.data import prepare

    on_cpu = load_model(tmp_path / "a").predict_proba(prepare(mnist, val_size=500, subset=5500).x_test)
    np.testing.assert_allclose(on_cpu, on_gpu, atol=1e-4)


# The layer, loss and optimizer tests that take their arrays from the backend under test, run again on the stand-in.
ON_ANY_DEVICE = ["tests/nn/test_activations.py", "tests/nn/test_losses.py", "tests/nn/test_dense.py",
                 "tests/optim/test_clip.py", "tests/optim/test_optimizers.py", "tests/nn/test_batchnorm.py",
                 "tests/nn/test_conv.py", "tests/nn/test_pool.py", "tests/nn/test_dropout.py",
                 "tests/nn/test_residual.py", "tests/nn/test_network.py", "tests/nn/test_parameters.py",
                 "tests/nn/test_registry.py",
                 "tests/nn/test_layout.py", "tests/nn/test_init.py"]


def test_the_layer_loss_and_optimizer_tests_pass_on_the_stand_in():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           *ON_ANY_DEVICE], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MATNET_BACKEND": "strict"})
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_a_gpu_checkpoint_s_random_state_is_refused_on_the_cpu_in_one_line():
    rng = DeviceRandom(0)
    with pytest.raises(MatnetError, match="saved on a GPU; resume it on --device cuda"):
        rng.state = {"seed": 0, "draws": 12}          # what a CuPy run's checkpoint holds for a generator
