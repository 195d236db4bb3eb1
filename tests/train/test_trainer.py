import numpy as np
import pytest

from matnet import SGD, Adam, Momentum, Sequential, build_mlp
from matnet.nn import Dense, MeanSquaredError, Softmax
from matnet.optim import Schedule
from matnet.train import Callback, EarlyStopping, TrainingDiverged, evaluate


def test_overfits_a_small_batch_to_100_percent(mnist_splits):
    x, y = mnist_splits.x_train[:64], mnist_splits.y_train[:64]
    model = build_mlp([784, 128, 64, 10], seed=0)
    history = model.fit(x, y, epochs=60, batch_size=16, optimizer=Adam(1e-3))
    assert model.evaluate(x, y)["accuracy"] == 1.0
    assert history["loss"][-1] < 0.01 < history["loss"][0]


class BatchLosses(Callback):
    def __init__(self):
        self.losses = []

    def on_batch_end(self, trainer, step, loss):
        self.losses.append(loss)


def test_loss_decreases_over_one_epoch_of_real_data(mnist_splits):
    record = BatchLosses()
    model = build_mlp([784, 128, 64, 10], seed=0)
    model.fit(mnist_splits.x_train[:5000], mnist_splits.y_train[:5000], epochs=1, batch_size=50,
              optimizer=Momentum(0.05), callbacks=[record])
    assert len(record.losses) == 100
    first, last = np.mean(record.losses[:10]), np.mean(record.losses[-10:])
    assert first > 1.5 and last < 0.6 * first
    assert model.evaluate(mnist_splits.x_val, mnist_splits.y_val)["accuracy"] > 0.85


def test_same_seed_same_numbers(mnist_splits):
    def train(seed):
        model = build_mlp([784, 32, 10], dropout=0.2, seed=seed)
        history = model.fit(mnist_splits.x_train[:1000], mnist_splits.y_train[:1000], epochs=2, seed=seed,
                            optimizer=Adam(1e-3), validation_data=(mnist_splits.x_val[:500], mnist_splits.y_val[:500]))
        return model.parameters.values.copy(), [(e["loss"], e["val_loss"]) for e in history.epochs]

    (w1, h1), (w2, h2), (w3, _) = train(0), train(0), train(1)
    np.testing.assert_array_equal(w1, w2)
    assert h1 == h2
    assert not np.array_equal(w1, w3)


class PoisonAfter(Callback):
    """Sets the weights to NaN after a given step of the second epoch."""

    def __init__(self, step):
        self.step, self.epoch = step, 0

    def on_epoch_begin(self, trainer, epoch):
        self.epoch = epoch

    def on_batch_end(self, trainer, step, loss):
        if self.epoch == 2 and step + 1 == self.step:
            trainer.model.parameters.values[:] = np.nan


def test_nan_loss_stops_with_epoch_and_step():
    model = build_mlp([4, 3, 2])
    x, y = np.ones((40, 4), np.float32), np.zeros(40, int)
    with pytest.raises(TrainingDiverged,
                       match=r"the loss became nan or infinite at epoch 2, step 4: .*lower learning rate"):
        model.fit(x, y, batch_size=5, epochs=3, optimizer=SGD(0.1), callbacks=[PoisonAfter(3)])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_exploding_learning_rate_is_reported():
    model = build_mlp([4, 8, 2])
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32) * 100
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+, step \d+"):
        model.fit(x, np.arange(64) % 2, batch_size=8, epochs=50, optimizer=SGD(1e6), loss=MeanSquaredError())


def test_early_stopping_restores_the_best_weights():
    gen = np.random.default_rng(0)
    x, y = gen.standard_normal((40, 10)).astype(np.float32), gen.integers(0, 2, 40)    # noise: overfits fast
    xv, yv = gen.standard_normal((40, 10)).astype(np.float32), gen.integers(0, 2, 40)
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            snapshots[epoch] = trainer.model.parameters.values.copy()

    model = build_mlp([10, 64, 2], seed=0)
    history = model.fit(x, y, epochs=200, batch_size=8, optimizer=Adam(1e-2), validation_data=(xv, yv),
                        early_stopping=3, callbacks=[Snapshot()])
    val = history["val_loss"]
    best = int(np.argmin(val)) + 1
    assert len(history) == best + 3 < 200               # stopped 3 epochs after the best
    assert history.best_epoch == best and history.restored_best
    np.testing.assert_array_equal(model.parameters.values, snapshots[best])
    assert evaluate(model, xv, yv)["loss"] == pytest.approx(min(val), rel=1e-5)


def test_early_stopping_needs_validation_data():
    with pytest.raises(ValueError, match="needs validation data"):
        build_mlp([2, 2]).fit(np.ones((4, 2), np.float32), np.zeros(4, int), epochs=2, early_stopping=1)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_schedule_sets_the_learning_rate_each_step():
    lrs = []

    class Record(Callback):
        def on_batch_end(self, trainer, step, loss):
            lrs.append(trainer.optimizer.rate)

    optimizer = SGD(2.0, schedule=Schedule("constant", warmup=2))
    build_mlp([2, 2]).fit(np.ones((8, 2), np.float32), np.zeros(8, int), epochs=2, batch_size=4,
                          optimizer=optimizer, callbacks=[Record()])
    np.testing.assert_allclose(lrs, [0.5, 1.0, 1.5, 2.0])       # the optimizer's rate 2.0, warmed up over 2 epochs
    assert optimizer.lr == 2.0                                  # its own rate stays what the user gave


def test_fit_leaves_the_caller_s_optimizer_and_its_schedule_alone():
    """``schedule=`` is the default optimizer's; with an optimizer of the caller's it is refused, not written in."""
    from matnet.optim import make_schedule
    from matnet.train.trainer import Trainer

    x, y = np.ones((8, 2), np.float32), np.zeros(8, int)
    step = make_schedule("step", epochs=3)
    optimizer = Momentum(0.1, schedule=step)
    with pytest.raises(ValueError, match="the optimizer owns its schedule, so give it there, e.g. Momentum"):
        build_mlp([2, 2]).fit(x, y, epochs=2, optimizer=optimizer, schedule=make_schedule("cosine", epochs=2),
                              verbose=0)
    assert optimizer.schedule is step and optimizer.t == 0
    bare = SGD(0.5)
    with pytest.raises(ValueError, match="schedule= and optimizer= both given"):
        Trainer(build_mlp([2, 2]), optimizer=bare, schedule=Schedule("constant", warmup=2))
    assert bare.schedule is None
    cosine = make_schedule("cosine", epochs=2)
    trainer = Trainer(build_mlp([2, 2]), schedule=cosine, epochs=2, batch_size=4)   # the default optimizer's
    trainer.fit(x, y)
    assert type(trainer.optimizer).__name__ == "Adam" and trainer.optimizer.schedule is cosine
    assert trainer.history["lr"] == pytest.approx([cosine(1, 1e-3), cosine(2, 1e-3)])


def test_without_a_schedule_the_optimizer_s_own_rate_holds():
    seen = []

    class Record(Callback):
        def on_batch_end(self, trainer, step, loss):
            seen.append(trainer.optimizer.rate)

    build_mlp([2, 2]).fit(np.ones((8, 2), np.float32), np.zeros(8, int), epochs=2, batch_size=4,
                          optimizer=SGD(0.3), callbacks=[Record()])
    assert seen == [0.3] * 4


def test_a_schedule_given_to_the_optimizer_scales_its_rate():
    """Adam(lr=1e-3) under a cosine schedule peaks at 1e-3: the schedule has no rate of its own to hide it."""
    from matnet.optim import Adam, make_schedule

    seen = []

    class Record(Callback):
        def on_batch_end(self, trainer, step, loss):
            seen.append(trainer.optimizer.rate)

    optimizer = Adam(1e-3, schedule=make_schedule("cosine", epochs=2))
    build_mlp([2, 2]).fit(np.ones((8, 2), np.float32), np.zeros(8, int), epochs=2, batch_size=4,
                          optimizer=optimizer, callbacks=[Record()])
    expected = [1e-3 * 0.5 * (1 + np.cos(np.pi * t / 2)) for t in (0.5, 1.0, 1.5, 2.0)]
    np.testing.assert_allclose(seen, expected, atol=1e-15)
    with pytest.raises(TypeError, match="the learning rate belongs to the optimizer"):
        make_schedule("cosine", lr=0.1, epochs=30)


def test_clipping_caps_the_step():
    model = Sequential([Dense(1, 1)])
    model.parameters.values[:] = 0
    model.fit(np.full((1, 1), 100.0, np.float32), np.array([[1000.0]], np.float32), epochs=1, batch_size=1,
              optimizer=SGD(1.0), loss=MeanSquaredError(), clip_norm=1.0)
    assert np.linalg.norm(model.parameters.values) == pytest.approx(1.0, rel=1e-5)


def test_softmax_before_cross_entropy_is_refused():
    model = Sequential([Dense(2, 2), Softmax()])
    with pytest.raises(ValueError, match="ends in Softmax"):
        model.fit(np.ones((2, 2), np.float32), np.zeros(2, int), epochs=1)


def test_history_and_metrics(mnist_splits):
    model = build_mlp([784, 16, 10])
    history = model.fit(mnist_splits.x_train[:500], mnist_splits.y_train[:500], epochs=2,
                        validation_data=(mnist_splits.x_val[:200], mnist_splits.y_val[:200]))
    assert len(history) == 2 and set(history.epochs[0]) == {"epoch", "loss", "acc", "val_loss", "val_acc", "lr",
                                                              "seconds"}
    assert history["epoch"] == [1, 2]
    result = model.evaluate(mnist_splits.x_test[:300], mnist_splits.y_test[:300])
    manual = (model.predict(mnist_splits.x_test[:300]) == mnist_splits.y_test[:300]).mean()
    assert result["accuracy"] == pytest.approx(manual)


def test_state_dict_is_a_snapshot_that_later_steps_leave_alone():
    """What ``state_dict`` returns is a copy (weights, buffers, the optimizer's velocity): training on does not
    change it, so a range test or a checkpoint taken in memory can put the trainer back."""
    from matnet.backend import to_numpy
    from matnet.train.trainer import Trainer

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2)).astype(np.float32), rng.integers(0, 2, 16)
    trainer = Trainer(build_mlp([2, 3, 2]), optimizer=Momentum(0.1), epochs=1, batch_size=4)
    trainer.fit(x, y)
    arrays, _ = trainer.state_dict()
    before = {key: to_numpy(a).copy() for key, a in arrays.items()}
    assert "optimizer.velocity" in before
    trainer.epochs = 2
    trainer.fit(x, y)
    for key, a in arrays.items():
        np.testing.assert_array_equal(to_numpy(a), before[key])


@pytest.mark.parametrize("damage", ["generator state -1", "missing entry", "text for a number"])
def test_a_checkpoint_state_training_cannot_make_is_one_line(damage):
    """Loading a state a trainer never saves (a generator's state out of range, an entry missing, a string where
    a count goes) is one MatnetError, not an internal error from deep inside NumPy."""
    import copy

    from matnet import SGD, build_mlp
    from matnet.errors import MatnetError
    from matnet.train.trainer import Trainer

    trainer = Trainer(build_mlp([4, 3, 2], seed=0), optimizer=SGD(0.1), epochs=1, batch_size=2)
    arrays, values = trainer.state_dict()
    values = copy.deepcopy(values)
    if damage == "generator state -1":
        values["batch_rng"]["state"]["state"] = -1
    elif damage == "missing entry":
        del values["totals"]
    else:
        values["epochs_done"] = "many"
    fresh = Trainer(build_mlp([4, 3, 2], seed=0), optimizer=SGD(0.1), epochs=1, batch_size=2)
    with pytest.raises(MatnetError, match="the checkpoint's saved state is damaged"):
        fresh.load_state_dict(arrays, values)
