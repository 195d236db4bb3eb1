"""Schedules scale the optimizer's rate: ``schedule(t, lr)``, checked against hand-computed values."""

import math

import pytest

from matnet.optim import Schedule, make_schedule


def test_constant():
    assert Schedule("constant")(7.5, 0.3) == 0.3


def test_step():
    s = Schedule("step", step_size=2, gamma=0.1)
    assert s(1.9, 1.0) == 1.0
    assert s(2.0, 1.0) == pytest.approx(0.1)
    assert s(4.5, 1.0) == pytest.approx(0.01)
    assert s(4.5, 3.0) == pytest.approx(0.03)        # the shape scales whatever rate it is given


def test_exponential():
    assert Schedule("exp", gamma=0.5)(2.0, 1.0) == pytest.approx(0.25)


def test_cosine():
    s = Schedule("cosine", epochs=10)
    assert s(0, 1.0) == 1.0 and s(5, 1.0) == pytest.approx(0.5) and s(10, 1.0) == pytest.approx(0.0)
    assert s(5, 0.2) == pytest.approx(0.1)
    floor = Schedule("cosine", epochs=10, min_fraction=0.1)
    assert floor(10, 1.0) == pytest.approx(0.1) and floor(10, 0.5) == pytest.approx(0.05)   # a fraction of lr
    assert floor(5, 2.0) == pytest.approx(2.0 * (0.1 + 0.9 * 0.5))
    with pytest.raises(ValueError, match="a fraction of lr"):
        Schedule("cosine", min_fraction=1.5)


def test_a_schedule_is_a_shape_of_the_rate():
    """Every schedule, warm-up and floor included, gives rates proportional to the optimizer's lr."""
    for schedule in (Schedule("step", step_size=2, warmup=1), Schedule("exp", gamma=0.5, warmup=0.5),
                     Schedule("cosine", epochs=10, warmup=2, min_fraction=0.2), Schedule("constant", warmup=3)):
        for t in (0.25, 1.0, 2.5, 7.0, 10.0):
            assert schedule(t, 0.3) == pytest.approx(3 * schedule(t, 0.1), rel=1e-12)


def test_the_presets_cosine_gives_the_same_rates_as_before():
    """No preset sets a floor: the cosine rate is bit for bit the one of the formula without it."""
    cosine = make_schedule("cosine", epochs=12, warmup=0.5)
    for t in (0.25, 0.5, 3.0, 11.9, 12.0):
        progress = min(max((t - 0.5) / 11.5, 0.0), 1.0)
        rate = 0.0 + (0.05 - 0.0) * 0.5 * (1.0 + math.cos(math.pi * progress))
        assert cosine(t, 0.05) == (rate * (t / 0.5) if t < 0.5 else rate)


def test_warmup_is_linear_then_the_schedule():
    assert Schedule("constant", warmup=2)(1.0, 0.2) == pytest.approx(0.1)
    assert Schedule("constant", warmup=2)(3.0, 0.2) == pytest.approx(0.2)
    cosine = Schedule("cosine", epochs=10, warmup=2)
    assert cosine(1.0, 1.0) == pytest.approx(0.5)          # warm-up half-way
    assert cosine(2.0, 1.0) == pytest.approx(1.0)          # peak
    assert cosine(6.0, 1.0) == pytest.approx(0.5)          # cosine half-way through epochs 2..10


def test_make_schedule_defaults_fit_the_run():
    assert make_schedule("step", epochs=30)(10, 1.0) == pytest.approx(0.1)
    assert make_schedule("exp", epochs=30)(30, 1.0) == pytest.approx(0.01)


def test_a_schedule_holds_no_rate_of_its_own():
    with pytest.raises(TypeError, match="the learning rate belongs to the optimizer"):
        make_schedule("cosine", epochs=30, lr=0.1)
    with pytest.raises(TypeError):
        Schedule("cosine", lr=0.1)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("linear")
    assert math.isfinite(Schedule("cosine", epochs=0.0)(0.0, 1.0))
