"""What a network is given, checked once where it comes in (``fit``, ``evaluate``, ``predict``, ``predict_proba``):
each problem is one ValueError or TypeError that names the argument, says what was expected and what was given.

Inputs ``x``, for a network whose samples have ``input_shape`` S (``(784,)`` for an MLP, ``(1, 28, 28)`` for a CNN):

    a batch (N, *S)                             used as it is
    a batch in another layout of the same size  reshaped to (N, *S), a view: flat rows (N, 784) for a CNN,
                                                (N, 28, 28) or (N, 1, 28, 28) for an MLP
    a single sample                             a batch of one: (784,), (28, 28) or (1, 28, 28)

Two layouts count as the same when one of them is flat, or when they agree once axes of length 1 are dropped
((N, 28, 28, 1) is fine for a CNN; (N, 3, 28, 28) for (28, 28, 3) is not: that reshape would scramble colours).
Values must be numbers (converted to the network's dtype: a copy only when the dtype differs) and finite.

Targets ``y``: class indices (N,) in [0, classes) (integers, or floats with whole values, which are converted),
a column (N, 1) of them, or rows of class probabilities (N, classes) such as one-hot rows.
"""

from __future__ import annotations

import math

import numpy as np

from matnet.backend import to_floats, to_host, xp

__all__ = ["as_batch", "as_targets", "check_data", "check_verbose"]


def _fmt(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def _same_layout(given: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    """One sample's values in ``given`` can be read as ``wanted`` by a reshape (see the module docstring)."""
    if math.prod(given) != math.prod(wanted):
        return False
    return len(given) == 1 or len(wanted) == 1 or _squeezed(given) == _squeezed(wanted)


def _expected(input_shape: tuple[int, ...]) -> str:
    size = math.prod(input_shape)
    if len(input_shape) == 1:
        side = math.isqrt(size)
        example = f", e.g. (N, {side}, {side})" if side > 1 and side * side == size else ""
        return (f"a batch of shape (N, {size}) (or any (N, ...) with {size} values per sample{example}, "
                f"flattened), or a single sample of {size} values")
    others = [_fmt(("N",) + _squeezed(input_shape))] if _squeezed(input_shape) != input_shape else []
    return (f"a batch of shape {_fmt(('N',) + input_shape)} (or {' or '.join(others + [f'flat rows (N, {size})'])}), "
            f"or a single sample of shape {_fmt(input_shape)}")


def _numbers(a, name: str, what: str):
    """``a`` as an array of numbers (bool, int, uint or float), else a TypeError."""
    try:
        array = xp.asarray(a)
    except (TypeError, ValueError) as err:  # ragged nested lists, and the like
        raise TypeError(f"{name}: expected {what} as an array of numbers, got {type(a).__name__} that is not "
                        f"one ({err})") from None
    if array.dtype.kind not in "biuf":
        given = "None" if a is None else f"{type(a).__name__} of dtype {array.dtype}"
        raise TypeError(f"{name}: expected {what} as an array of numbers, got {given}")
    return array


def _check_finite(x, name: str) -> None:
    """NaN and infinities refused; two reductions, no temporary the size of ``x`` unless one is found."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    low, high = to_floats((x.min(), x.max()))      # one transfer
    if math.isfinite(low) and math.isfinite(high):
        return
    bad = ~xp.isfinite(x.reshape(len(x), -1)).all(axis=1)
    first = to_host(xp.argmax(bad))
    raise ValueError(f"{name}: expected finite numbers, got NaN or infinite values in {to_host(bad.sum()):,} "
                     f"sample(s), the first at index {first}; clean or drop them")


def as_batch(x, input_shape: tuple[int, ...], dtype=np.float32, *, name: str = "x"):
    """``x`` -> a batch ``(N, *input_shape)`` of ``dtype`` on the backend's device, per the module docstring.

    No copy when ``x`` already has ``dtype`` and a layout that reshapes as a view (every C-contiguous array does).
    """
    input_shape = tuple(input_shape)
    x = _numbers(x, name, "inputs")
    shape = tuple(x.shape)
    if shape[1:] == input_shape:
        pass
    elif len(shape) >= 2 and _same_layout(shape[1:], input_shape):
        x = x.reshape(shape[0], *input_shape)
    elif _same_layout(shape, input_shape):
        x = x.reshape(1, *input_shape)   # a single sample: a batch of one
    else:
        raise ValueError(f"{name}: the network takes {_expected(input_shape)}; got shape {_fmt(shape)}")
    x = xp.asarray(x, dtype=dtype)
    _check_finite(x, name)
    return x


def as_targets(y, n: int, classes: int, *, name: str = "y", x_name: str = "x"):
    """``y`` -> class indices (n,) (integer) or target rows (n, classes) (float), per the module docstring.

    ``n`` is the number of samples in the inputs ``y`` goes with (named ``x_name`` in the messages)."""
    y = _numbers(y, name, "class labels")
    if y.ndim == 2 and y.shape[1] == 1 and classes != 1:
        y = y.reshape(len(y))
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: expected class indices of shape (N,) or target rows (N, {classes}), got shape "
                         f"{_fmt(y.shape)}")
    if len(y) != n:
        raise ValueError(f"{name}: {len(y):,} label(s) for {n:,} sample(s) in {x_name}; each sample needs exactly "
                         f"one")
    if y.ndim == 2:
        if y.shape[1] != classes:
            raise ValueError(f"{name}: target rows need one column per class, shape (N, {classes}); got shape "
                             f"{_fmt(y.shape)}")
        if y.dtype.kind != "f":
            y = xp.asarray(y, dtype=np.float32)
        _check_finite(y, name)
        return y
    where = f"class indices in [0, {classes})"
    if y.dtype.kind == "b":
        raise TypeError(f"{name}: expected {where} as integers, got booleans")
    if y.dtype.kind == "f":
        whole = xp.isfinite(y) & (y == xp.floor(y))
        if not to_host(whole.all()):
            first = to_host(xp.argmin(whole))
            raise ValueError(f"{name}: expected {where}, got {to_host(y[first])!r} at index {first} (float labels "
                             f"are accepted only with whole values)")
        y = y.astype(np.int64)
    if len(y):
        outside = (y < 0) | (y >= classes)
        if to_host(outside.any()):
            first = to_host(xp.argmax(outside))
            raise ValueError(f"{name}: expected {where} (the network has {classes} outputs), got {to_host(y[first])} "
                             f"at index {first}")
    return y


def check_data(x, y, input_shape: tuple[int, ...], classes: int, dtype=np.float32, *, names=("x", "y")):
    """``(as_batch(x), as_targets(y))`` for a non-empty set of samples; ``names`` name the two in messages."""
    x = as_batch(x, input_shape, dtype, name=names[0])
    if len(x) == 0:
        raise ValueError(f"{names[0]}: no samples (shape {_fmt(x.shape)})")
    return x, as_targets(y, len(x), classes, name=names[1], x_name=names[0])


def check_verbose(verbose) -> int:
    """``verbose`` as Keras has it: 0 silent, 1 progress bars and a line per epoch, 2 the lines only."""
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0 (silent), 1 (progress bar and one line per epoch) or 2 (one line "
                         f"per epoch), got {verbose!r}")
    return int(verbose)
