"""The learning-rate range test: its suggestions on MNIST's default MLP, and `matnet lr-find`."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from matnet.cli.main import main
from matnet.architectures import build_mlp
from matnet.optim.optimizers import make_optimizer
from matnet.train.lr_find import Smoother, lr_find, range_schedule, suggest


@pytest.mark.parametrize("optimizer, tuned", [("momentum", 0.1), ("adam", 1e-3)])
def test_the_suggestion_lies_within_3x_of_the_tuned_default(mnist_splits, optimizer, tuned):
    model = build_mlp([784, 128, 64, 10])
    before = model.parameters.values.copy()
    result = lr_find(model, make_optimizer(optimizer, tuned, 5e-4, 0.9), mnist_splits.x_train, mnist_splits.y_train)
    print(f"{optimizer}: suggestion {result.suggestion:.3g}, minimum {result.minimum:.3g}, "
          f"steepest {result.steepest:.3g}")
    assert tuned / 3 <= result.suggestion <= tuned * 3
    assert result.stopped == "diverged" and len(result.lrs) < 300
    assert np.array_equal(model.parameters.values, before)   # the test leaves the model as it was


def test_on_a_curve_with_a_known_minimum_the_smoothed_one_lags_and_the_suggestion_comes_before_it():
    """A batch loss that falls, bottoms out at step 200 and rises (as a range test's does): the smoothed minimum
    lies after the true one, where the batch loss has risen, and the suggestion (a tenth of the smoothed minimum)
    lies before the true minimum. The lag is the delay of a trend: the average of a ramp ``v_k = k`` is ``k - lag``."""
    lrs = [range_schedule(1e-6, 10.0, 300)(k, 1e-6) for k in range(300)]
    true = 200
    losses = 2.3 - 2.0 / (1 + np.exp(-(np.arange(300) - 120) / 15)) + 0.002 * np.maximum(np.arange(300) - true, 0) ** 2
    assert int(np.argmin(losses)) == pytest.approx(true, abs=2)
    smoother = Smoother(0.98)
    smoothed = [smoother.add(value) for value in losses]
    suggestion, low, _ = suggest(lrs, smoothed, "minimum")
    lag = smoother.lag(low)
    assert low > true + 5 and losses[low] > losses[true] + 0.01   # the smoothed minimum comes late
    assert suggestion < lrs[true] and suggestion == lrs[low] / 10  # the suggestion: before the true minimum
    ramp = Smoother(0.98)
    assert [ramp.add(k) for k in range(300)] == pytest.approx([k - ramp.lag(k) for k in range(300)], abs=1e-9)
    assert 40 < lag < 49 and ramp.lag(0) == 0 and ramp.lag(5000) == pytest.approx(49)


def test_lr_find_cli_plot_json_and_apply(tmp_path, monkeypatch, capsys, mnist):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text('epochs = 3\nlr = 0.5\n')
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plot"] == "runs/lr-find.png" and (tmp_path / "runs" / "lr-find.png").is_file()
    assert out["suggestion"] > 0 and out["lag"] > 0 and "too few" in out["warning"]   # 60 steps: a rough suggestion
    assert main(["lr-find", "--subset", "2000", "--steps", "60"]) == 0          # a default name: the next free one
    printed = capsys.readouterr()
    assert "plot: runs/lr-find-2.png" in printed.out and "warning: 60 steps are too few" in printed.err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["lr-find-2.png", "lr-find.png"]
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--plot", "mine.toml"]) == 1   # a named file
    assert "mine.toml already exists: add --force" in capsys.readouterr().err
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--lr", "0.5"]) == 2   # no --lr: it is the test's
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--plot", "b.png", "--apply", "mine.toml"]) == 1
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--plot", "b.png", "--apply", "new.toml"]) == 0
    written = tomllib.loads((tmp_path / "new.toml").read_text())
    assert written["subset"] == 2000 and "out" not in written and written["lr"] > 0
    assert main(["lr-find", "--subset", "2000", "--steps", "60", "--plot", "c.png", "--apply", "mine.toml",
                 "--force"]) == 0
    updated = tomllib.loads((tmp_path / "mine.toml").read_text())
    assert updated["epochs"] == 3 and updated["lr"] != 0.5
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["lr-find-2.png", "lr-find.png"]   # no run


def test_nothing_of_the_test_survives_it(mnist_splits):
    """After the range test, a model with Dropout trains to the very numbers of a twin that never ran it: the
    weights, the optimizer's state, rate and schedule, and the Dropout generators are all put back."""
    from matnet.backend import to_numpy
    from matnet.optim.schedules import make_schedule

    x, y = mnist_splits.x_train[:640], mnist_splits.y_train[:640]
    schedule = make_schedule("cosine", epochs=2)
    tested, twin = (build_mlp([784, 32, 10], dropout=0.5, seed=3) for _ in range(2))
    optimizer = make_optimizer("momentum", 0.1, schedule=schedule)
    lr_find(tested, optimizer, x, y, steps=20, batch_size=64)
    assert optimizer.schedule is schedule and optimizer.t == 0 and optimizer.rate == 0.1
    tested.fit(x, y, epochs=2, batch_size=64, optimizer=optimizer, verbose=0)
    twin.fit(x, y, epochs=2, batch_size=64, optimizer=make_optimizer("momentum", 0.1, schedule=schedule), verbose=0)
    np.testing.assert_array_equal(to_numpy(tested.parameters.values), to_numpy(twin.parameters.values))


def test_the_range_test_scales_its_own_optimizer_s_lr(mnist_splits):
    """The test's rates are its schedule (a shape) applied to its own optimizer's lr, ``start``; the caller's
    optimizer keeps its rate, schedule and state."""
    x, y = mnist_splits.x_train[:640], mnist_splits.y_train[:640]
    optimizer = make_optimizer("sgd", 0.1)
    result = lr_find(build_mlp([784, 16, 10]), optimizer, x, y, start=1e-4, end=1.0, steps=20, batch_size=32)
    shape = range_schedule(1e-4, 1.0, 20)
    assert result.lrs == [shape(k, 1e-4) for k in range(len(result.lrs))]
    assert shape(0, 1e-4) == 1e-4 and shape(19, 1e-4) == pytest.approx(1.0)
    assert shape(7, 3e-4) == pytest.approx(3 * shape(7, 1e-4), rel=1e-12)      # it scales the rate it is given
    assert optimizer.lr == 0.1 and optimizer.schedule is None and optimizer.t == 0 and not optimizer.state


def test_apply_replaces_the_config_file_atomically(tmp_path, monkeypatch):
    """--apply writes through fileio's atomic writer: a write that fails half-way leaves the old file whole."""
    from pathlib import Path

    from matnet.cli.lr_find import _apply
    from matnet.config import TrainConfig

    path = tmp_path / "mine.toml"
    path.write_text("epochs = 3\nlr = 0.5\n")
    real = Path.write_text

    def half_then_fail(self, text, *args, **kwargs):
        real(self, text[:5], *args, **kwargs)
        raise OSError("no space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="no space"):
        _apply(path, TrainConfig(), 0.01, force=True)
    monkeypatch.undo()
    assert path.read_text() == "epochs = 3\nlr = 0.5\n" and [p.name for p in tmp_path.iterdir()] == ["mine.toml"]
    assert _apply(path, TrainConfig(), 0.01, force=True) == "updated lr in"
    assert tomllib.loads(path.read_text()) == {"epochs": 3, "lr": 0.01}
