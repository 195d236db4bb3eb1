"""The array module, chosen in one place.

Every piece of math in matnet uses ``xp`` from here, never ``numpy`` directly, so the same code runs on
NumPy (CPU, the default) or CuPy (an NVIDIA GPU) with no second implementation. The choice is made once,
at import time, from the environment variable ``MATNET_BACKEND`` (``numpy`` or ``cupy``).
"""

from __future__ import annotations

import os

import numpy

__all__ = ["xp", "name", "to_numpy"]

name = os.environ.get("MATNET_BACKEND", "numpy").strip().lower() or "numpy"

if name == "numpy":
    xp = numpy
elif name == "cupy":  # pragma: no cover - needs a GPU
    import cupy as xp  # type: ignore[no-redef]
else:
    raise ImportError(f"MATNET_BACKEND={name!r}: choose 'numpy' or 'cupy'")


def to_numpy(a) -> numpy.ndarray:
    """A NumPy array, wherever ``a`` lives (CuPy arrays are copied off the GPU)."""
    if isinstance(a, numpy.ndarray):
        return a
    get = getattr(a, "get", None)
    return get() if get is not None else numpy.asarray(a)
