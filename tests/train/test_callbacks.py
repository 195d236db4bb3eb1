"""Every callback on its own, and the trainer's promises to them: the best epoch is known before any callback sees
an epoch, and the checkpoint is written after all of them."""

from types import SimpleNamespace

import numpy as np
import pytest

from matnet import SGD, Adam, Sequential, build_mlp
from matnet.nn import Dense, ReLU, Residual
from matnet.train import (BestEpoch, BestModel, Callback, EarlyStopping, LayerStats, MetricsLog, StepLog, Trainer,
                          format_metrics)
from matnet.train.checkpoint import load_checkpoint


def noise(seed=0, n=40, d=10):
    gen = np.random.default_rng(seed)
    return gen.standard_normal((n, d)).astype(np.float32), gen.integers(0, 2, n)


def test_best_epoch_follows_the_lowest_value():
    best = BestEpoch("val_loss")
    seen = []
    for epoch, value in enumerate([0.9, 0.7, 0.8, 0.7, 0.5], start=1):
        best.update(epoch, {"val_loss": value, "loss": 0.0})
        seen.append((best.improved, best.epoch, best.value))
    assert seen == [(True, 1, 0.9), (True, 2, 0.7), (False, 2, 0.7), (False, 2, 0.7), (True, 5, 0.5)]


def test_early_stopping_and_the_best_model_share_one_best_epoch():
    (x, y), (xv, yv) = noise(0), noise(1)
    saved = []
    best_model = BestModel(lambda model: saved.append((trainer.epochs_done, model.parameters.values.copy())))
    model = build_mlp([10, 64, 2], seed=0)
    trainer = Trainer(model, optimizer=Adam(1e-2), epochs=200, batch_size=8,
                      callbacks=[EarlyStopping(patience=3), best_model])
    history = trainer.fit(x, y, validation_data=(xv, yv))
    val = history["val_loss"]
    new_lows = [epoch for epoch in range(1, len(val) + 1) if val[epoch - 1] < min(val[:epoch - 1], default=np.inf)]
    assert [epoch for epoch, _ in saved] == new_lows                       # saved exactly at every new low
    assert history.best_epoch == trainer.best.epoch == new_lows[-1]
    assert len(history) == new_lows[-1] + 3 < 200                          # stopped 3 epochs after the best
    np.testing.assert_array_equal(model.parameters.values, saved[-1][1])   # and put the best weights back


def test_without_validation_data_the_best_epoch_is_by_training_loss():
    x, y = noise(0)
    trainer = Trainer(build_mlp([10, 8, 2]), optimizer=SGD(0.1), epochs=3, batch_size=8)
    history = trainer.fit(x, y)
    assert trainer.best.monitor == "loss"
    assert history.best_epoch == int(np.argmin(history["loss"])) + 1


def test_metrics_and_step_logs_hand_over_their_records():
    x, y = noise(0, n=30)
    metrics_saved, steps_saved = [], []
    steps = StepLog(save=lambda record: steps_saved.append({k: list(v) if isinstance(v, list) else v
                                                            for k, v in record.items()}))
    trainer = Trainer(build_mlp([10, 4, 2]), optimizer=SGD(0.5), epochs=2, batch_size=8,
                      callbacks=[MetricsLog(lambda epochs: metrics_saved.append(list(epochs))), steps])
    history = trainer.fit(x, y)
    assert metrics_saved == [history.epochs[:1], history.epochs]        # the whole list, after every epoch
    assert len(steps_saved) == 2 and steps_saved[0]["steps_per_epoch"] == 4
    assert len(steps_saved[0]["loss"]) == 4 and len(steps.record["loss"]) == 8
    assert steps.record["lr"] == [0.5] * 8


class Snapshots(Callback):
    def __init__(self):
        self.values = []

    def on_batch_end(self, trainer, step, loss):
        self.values.append(trainer.model.parameters.values.copy())


def test_step_log_records_each_steps_loss_in_order():
    # One image 32 times: every batch (however shuffled) has the same loss, that of the one image under the
    # parameters before the step, which NumPy computes here from the snapshots.
    gen = np.random.default_rng(0)
    x, y = np.repeat(gen.standard_normal((1, 10)).astype(np.float32), 32, axis=0), np.ones(32, int)
    model = build_mlp([10, 4, 2], seed=0)
    before = [model.parameters.values.copy()]
    snapshots, steps = Snapshots(), StepLog()
    Trainer(model, optimizer=SGD(0.5), epochs=2, batch_size=8, callbacks=[snapshots, steps]).fit(x, y)
    expected = []
    for values in before + snapshots.values[:-1]:
        model.parameters.values[:] = values
        logits = model.forward(x[:1]).astype(np.float64)[0]
        expected.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[1])
    assert len(steps.record["loss"]) == 8 and expected[0] > 1.5 * expected[-1]    # it learns: order matters
    np.testing.assert_allclose(steps.record["loss"], expected, rtol=1e-5)


def test_layer_stats_record_norms_and_update_ratios_of_the_weights_only():
    x, y = noise(0, n=64)
    snapshots, stats = Snapshots(), LayerStats(max_every=4)
    model = build_mlp([10, 6, 2], seed=0)
    trainer = Trainer(model, optimizer=SGD(0.3), epochs=2, batch_size=8, callbacks=[snapshots, stats])
    trainer.fit(x, y)
    params = model.parameters
    assert stats.every == 2                                     # 16 steps: as often as it can (~100 points)
    assert stats.record["steps"] == list(range(2, 17, 2))
    assert set(stats.record["weights"]) == {"dense_1.W", "dense_2.W"}   # the parameters with weight decay
    for name, span in zip(params.names, params.slices):
        if name not in stats.record["weights"]:
            continue
        record = stats.record["weights"][name]
        for k, done in enumerate(stats.record["steps"]):
            new, old = snapshots.values[done - 1][span], snapshots.values[done - 2][span]
            assert record["weight_norm"][k] == pytest.approx(np.linalg.norm(new), rel=1e-6)
            assert record["update_ratio"][k] == pytest.approx(np.linalg.norm(new - old) / np.linalg.norm(old),
                                                              rel=1e-5)
            # plain SGD moves by lr * gradient, so the gradient's norm is the step's length / lr
            assert record["grad_norm"][k] == pytest.approx(np.linalg.norm(new - old) / 0.3, rel=1e-4)


def test_dead_relus_are_found_inside_residual_blocks_too():
    inner = Dense(4, 4)
    model = Sequential([Dense(3, 4), ReLU(), Residual([inner, ReLU(name="inside"), Dense(4, 4)]), ReLU(),
                        Dense(4, 2)], seed=0)
    inner.params["b"][...] = -1e3                  # no input can make these units fire
    first, last = model.layers[0], model.layers[2].layers[2]
    first.params["b"][...] = [-100, 100, -100, 100]     # and two of the first ReLU's four never fire, two always do
    probe = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    stats = LayerStats(probe=probe)
    stats.on_epoch_end(SimpleNamespace(model=model), 1, {})
    dead = stats.record["dead"]
    assert dead["epochs"] == [1] and set(dead) == {"epochs", "relu_1", "inside", "relu_2"}
    assert dead["inside"] == [1.0] and dead["relu_1"] == [0.5]
    # relu_2 by hand: its input is the shortcut (relu_1's output) plus the branch, whose dead middle leaves it
    # the last Dense's bias alone
    h = np.maximum(probe @ first.params["W"].T + first.params["b"], 0) + last.params["b"]
    assert dead["relu_2"] == [pytest.approx(1.0 - (h > 0).any(axis=0).mean())]


def test_trace_gives_every_layer_in_order_with_the_forward_output():
    model = Sequential([Dense(3, 4), ReLU(), Residual([Dense(4, 5), ReLU()]), Dense(5, 2)], seed=0)
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    seen = model.trace(x)
    assert [layer.name for layer, _ in seen] == ["dense_1", "relu_1", "dense_2", "relu_2", "dense_4", "residual_1",
                                                 "dense_3"]
    np.testing.assert_array_equal(seen[-1][1], model.forward(x))
    block_out, relu_out, shortcut_out = seen[5][1], seen[3][1], seen[4][1]
    np.testing.assert_allclose(block_out, relu_out + shortcut_out, rtol=1e-6)


class EpochCounter(Callback):
    """A stateful callback, put first: the checkpoint must still hold its state after the epoch."""

    def __init__(self):
        self.count = 0

    def on_epoch_end(self, trainer, epoch, metrics):
        self.count += 1

    def state_dict(self):
        return {}, {"count": self.count}

    def load_state_dict(self, arrays, values):
        self.count = values["count"]


def test_the_trainer_writes_its_checkpoint_after_every_callback(tmp_path):
    x, y = noise(0)
    path = tmp_path / "checkpoint.npz"
    trainer = Trainer(build_mlp([10, 4, 2]), optimizer=SGD(0.1), epochs=3, batch_size=8,
                      callbacks=[EpochCounter(), StepLog()], checkpoint=path)
    trainer.fit(x, y)
    arrays, values = load_checkpoint(path)
    assert values["epochs_done"] == 3 and values["step"] == 0
    assert values["callbacks"]["EpochCounter"] == {"count": 3}
    assert len(values["callbacks"]["StepLog"]["loss"]) == 15
    assert values["best"]["epoch"] == trainer.best.epoch
    np.testing.assert_array_equal(arrays["params"], trainer.model.parameters.values)


def test_format_metrics():
    line = format_metrics({"epoch": 3, "loss": 0.12345, "acc": 0.96512, "val_acc": 0.97, "lr": 1e-3, "seconds": 2.14})
    assert line == "loss 0.1235  acc 96.51%  val_acc 97.00%  lr 1.00e-03  2.1s"


def test_a_callback_before_one_it_reads_is_refused_by_name():
    from matnet.train import Trainer
    from matnet.train.diagnose import Diagnose

    stats = LayerStats()
    check = Diagnose(layer_stats=stats)
    model = build_mlp([4, 3, 2])
    with pytest.raises(ValueError, match="Diagnose reads what LayerStats records, which is after it"):
        Trainer(model, callbacks=[check, stats])
    with pytest.raises(ValueError, match="which is missing from the list"):
        Trainer(model, callbacks=[check])
    Trainer(model, callbacks=[stats, check])          # the order matnet.run uses


def test_fit_and_matnet_train_add_the_same_standard_callbacks_in_one_order():
    from matnet.train.callbacks import EarlyStopping, EpochLog, ProgressBar, standard_callbacks

    made = standard_callbacks(patience=3, bar=True, lines=True)
    assert [type(c) for c in made] == [EarlyStopping, ProgressBar, EpochLog] and made[0].patience == 3
    assert standard_callbacks() == []


def test_epoch_lines_say_how_long_the_rest_of_the_run_will_take():
    import io

    from matnet.train.callbacks import EpochLog, format_duration

    assert [format_duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m 05s", "1h 02m"]
    out = io.StringIO()
    log = EpochLog(file=out)
    trainer = SimpleNamespace(epochs=5, history=SimpleNamespace(epochs=[{"seconds": 10.0}, {"seconds": 30.0}]))
    log.on_epoch_end(trainer, 2, {"epoch": 2, "loss": 0.5, "seconds": 30.0})
    trainer.history.epochs += [{"seconds": 20.0}] * 3
    log.on_epoch_end(trainer, 5, {"epoch": 5, "loss": 0.4, "seconds": 20.0})
    first, last = out.getvalue().splitlines()
    assert first == "epoch 2/5  loss 0.5000  30.0s  ~1m 00s left"     # 3 epochs left at 20 s each
    assert last == "epoch 5/5  loss 0.4000  20.0s"                     # nothing left to wait for
