import math

import pytest

from matnet.optim import Schedule, make_schedule


def test_constant():
    assert Schedule("constant", lr=0.3)(7.5) == 0.3


def test_step():
    s = Schedule("step", lr=1.0, step_size=2, gamma=0.1)
    assert s(1.9) == 1.0
    assert s(2.0) == pytest.approx(0.1)
    assert s(4.5) == pytest.approx(0.01)


def test_exponential():
    assert Schedule("exp", lr=1.0, gamma=0.5)(2.0) == pytest.approx(0.25)


def test_cosine():
    s = Schedule("cosine", lr=1.0, epochs=10)
    assert s(0) == 1.0 and s(5) == pytest.approx(0.5) and s(10) == pytest.approx(0.0)
    assert Schedule("cosine", lr=1.0, epochs=10, min_lr=0.1)(10) == pytest.approx(0.1)


def test_warmup_is_linear_then_the_schedule():
    assert Schedule("constant", lr=0.2, warmup=2)(1.0) == pytest.approx(0.1)
    assert Schedule("constant", lr=0.2, warmup=2)(3.0) == pytest.approx(0.2)
    cosine = Schedule("cosine", lr=1.0, epochs=10, warmup=2)
    assert cosine(1.0) == pytest.approx(0.5)          # warm-up half-way
    assert cosine(2.0) == pytest.approx(1.0)          # peak
    assert cosine(6.0) == pytest.approx(0.5)          # cosine half-way through epochs 2..10


def test_make_schedule_defaults_fit_the_run():
    assert make_schedule("step", 1.0, epochs=30)(10) == pytest.approx(0.1)
    assert make_schedule("exp", 1.0, epochs=30)(30) == pytest.approx(0.01)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("linear")
    assert math.isfinite(Schedule("cosine", lr=1, epochs=0.0)(0.0))
