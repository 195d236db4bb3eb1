"""A stand-in for a GPU's array module: NumPy underneath, CuPy's rules on top, and stricter where CuPy is lenient.

``matnet.use_device("strict")`` (or ``MATNET_BACKEND=strict``) makes this the array module ``xp``. Its arrays
(:class:`StrictArray`) hold a NumPy array and compute with NumPy, so every number is the one NumPy gives, bit for
bit; but they behave as if they lived on a GPU:

- NumPy cannot read them: ``np.asarray(a)`` raises, as it does for a CuPy array;
- a host (NumPy) array in one operation with a device array raises, as CuPy does;
- ``float(a)``, ``int(a)``, ``bool(a)`` (an ``if`` on an array), ``a.item()``, ``a.tolist()`` and formatting
  (``f"{a:.4f}"``) raise. CuPy allows them on a one-element array at the price of a synchronisation; here they
  are refused, so that every read of a value goes through :func:`matnet.backend.to_numpy` or
  :func:`~matnet.backend.to_host`, which count it in ``matnet.backend.transfers``.

Python and NumPy scalars mix with device arrays freely (CuPy allows them); ``xp.asarray(host)`` moves host data
to the device. Each refusal is a :class:`StrictError` (a TypeError) that names the rule it enforces.
"""

from __future__ import annotations

import functools
import types

import numpy as np

__all__ = ["StrictArray", "StrictError", "ndarray", "asarray", "array", "random", "lib"]

__version__ = f"stand-in over NumPy {np.__version__}"


class StrictError(TypeError):
    """What a GPU would not do, or would do only with a hidden synchronisation."""


def _unwrap(value):
    """``value`` with every device array replaced by the NumPy array inside it; a host array is refused."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise StrictError(f"a host (NumPy) array of shape {value.shape} in an operation with device arrays: move it "
                          f"to the device first (matnet.backend.to_device)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    return value


def _wrap(result):
    """NumPy results as device arrays (a NumPy scalar becomes a 0-d device array, as CuPy returns)."""
    if isinstance(result, np.ndarray):
        return StrictArray(result)
    if isinstance(result, np.generic):
        return StrictArray(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    return result


def _on_device(function):
    """``function`` (a NumPy function) taking and returning device arrays."""
    @functools.wraps(function)
    def call(*args, **kwargs):
        return _wrap(function(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    return call


def _refuse(what: str):
    def refused(self, *args, **kwargs):
        raise StrictError(f"{what} of a device array reads it back to the host (a synchronisation on a GPU): use "
                          f"matnet.backend.to_host or to_numpy, which count the transfer")
    return refused


class StrictArray:
    """An array "on the device": a NumPy array that NumPy cannot read and the host cannot see without a counted
    transfer (see the module docstring)."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, a: np.ndarray):
        self._a = a

    # --- what a device array refuses ---------------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise StrictError("Implicit conversion to a NumPy array is not allowed (np.asarray of a device array): use "
                          "matnet.backend.to_numpy, which counts the transfer")

    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __index__ = _refuse("using as an index")
    __bool__ = _refuse("bool() (an if or while on an array)")
    __complex__ = _refuse("complex()")
    __format__ = _refuse("formatting")
    item = _refuse(".item()")
    tolist = _refuse(".tolist()")
    tobytes = _refuse(".tobytes()")

    def get(self) -> np.ndarray:
        """A host copy (CuPy's name); call it through matnet.backend.to_numpy, which counts it."""
        return self._a.copy()

    # --- what it does, with NumPy --------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **{k: v if k == "out" else _unwrap(v)
                                                             for k, v in kwargs.items()})
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def __getattr__(self, name):
        if name.startswith("__"):      # NumPy's own protocols (__array_interface__, ...) would read the array
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return _on_device(attr)
        return _wrap(attr)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __repr__(self):
        return f"StrictArray(shape={self._a.shape}, dtype={self._a.dtype})"

    __str__ = __repr__

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    def __reduce__(self):
        raise StrictError("pickling a device array reads it back to the host: save with matnet's own files")


def _binary(ufunc):
    return lambda self, other: ufunc(self, other)


def _reflected(ufunc):
    return lambda self, other: ufunc(other, self)


def _inplace(ufunc):
    def operate(self, other):
        ufunc(self._a, _unwrap(other), out=self._a)
        return self
    return operate


for _name, _ufunc in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                      "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
                      "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
                      "lshift": np.left_shift, "rshift": np.right_shift}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_ufunc))
    setattr(StrictArray, f"__r{_name}__", _reflected(_ufunc))
    setattr(StrictArray, f"__i{_name}__", _inplace(_ufunc))
for _name, _ufunc in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                      "eq": np.equal, "ne": np.not_equal}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(StrictArray, f"__{_name}__", lambda self, f=_ufunc: f(self))

ndarray = StrictArray


# --- the module's functions: NumPy's, on device arrays -------------------------------------------------------------
def asarray(a, dtype=None, order=None):
    """Host data (a NumPy array, a list, a number) or a device array -> a device array (no copy when it is one
    already, of that dtype): the host-to-device move."""
    if isinstance(a, StrictArray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else StrictArray(a._a.astype(dtype))
    return StrictArray(np.array(_host(a), dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, StrictArray):
        return StrictArray(np.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    return StrictArray(np.array(_host(a), dtype=dtype, copy=True, order=order, ndmin=ndmin))


def _host(a):
    """Host data for ``asarray``: nested lists may hold device scalars (CuPy reads them; here that is refused)."""
    if isinstance(a, (list, tuple)) and any(isinstance(v, StrictArray) for v in a):
        raise StrictError("a list holding device arrays: use xp.stack, not xp.asarray")
    return a


ascontiguousarray = asarray


class _Generator:
    """NumPy's Generator, drawing device arrays (numbers identical to NumPy's for the same seed)."""

    def __init__(self, generator: np.random.Generator):
        self.bit_generator = generator.bit_generator
        self._generator = generator

    def __getattr__(self, name):
        return _on_device(getattr(self._generator, name))


random = types.SimpleNamespace(default_rng=lambda seed=None: _Generator(np.random.default_rng(seed)))
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
    sliding_window_view=_on_device(np.lib.stride_tricks.sliding_window_view),
    as_strided=_on_device(np.lib.stride_tricks.as_strided)))


def __getattr__(name: str):
    """Every other name is NumPy's: dtypes and constants as they are, functions on device arrays."""
    attr = getattr(np, name)
    if isinstance(attr, type) or not callable(attr):
        return attr
    wrapped = _on_device(attr)
    globals()[name] = wrapped
    return wrapped
