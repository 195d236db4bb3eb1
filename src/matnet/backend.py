"""The array module and the device, chosen in one place.

Every piece of math in matnet uses ``xp`` from here, so the same code runs on NumPy (the CPU, the default) or
CuPy (an NVIDIA GPU) with no second implementation. The device is chosen once per process, before a model is
made: ``matnet.use_device("cuda")`` in Python, ``--device cuda`` on the command line, or the environment variable
``MATNET_BACKEND`` (``numpy``, ``cupy`` or ``strict``). ``xp`` always stands for the current device's module.

Moving arrays between host and device is explicit and happens here only:

    to_device(a)    host -> device (data once per run, a shuffled order once per epoch)
    to_numpy(a)     device -> host, counted in ``transfers``: a synchronisation on a GPU
    to_host(a)      a device scalar -> a Python float or int (the same, counted)
    to_floats(vs)   several device scalars -> Python floats, in one transfer

A training step makes no device-to-host transfer: the running loss and accuracy stay device scalars and are
read at logged lines and epoch ends. The ``strict`` device (:mod:`matnet.strict`, NumPy underneath) refuses
every hidden transfer as CuPy does and more (``float(a)``, ``np.asarray(a)``, host and device arrays in one
operation), so the test suite proves that promise on machines without a GPU.

NumPy itself appears elsewhere in the package for host work only: reading files and images, drawing initial
weights (on the host, so that a seed gives the same weights on every device), figures, reports and exports. In
the math (``nn``, ``optim``, ``train``, augmentation) a test holds every use of NumPy to dtype names, host
generators and ``errstate``, or to host work declared with its reason (``HOST_WORK`` in tests/test_imports.py).
"""

from __future__ import annotations

import os

import numpy

from matnet.errors import MatnetError, SettingError

__all__ = ["xp", "use_device", "device", "device_info", "to_device", "to_numpy", "to_host", "is_device_array",
           "to_floats", "DeviceRandom", "random_state", "set_random_state", "transfers", "DEVICES"]

# device name -> the array module behind it (``strict`` is the stand-in for a GPU that the tests use)
DEVICES = {"cpu": "numpy", "cuda": "cupy", "strict": "strict"}
CUPY_HINT = ("install CuPy for your CUDA version: pip install cupy-cuda12x (CUDA 12) or pip install cupy-cuda13x "
             "(CUDA 13)")


class Transfers:
    """How many device-to-host transfers (each a synchronisation on a GPU) ``to_numpy``/``to_host`` made."""

    def __init__(self):
        self.count = 0

    def __repr__(self):
        return f"Transfers(count={self.count})"


transfers = Transfers()


class _ArrayModule:
    """``xp``: stands for the current device's array module (``xp.exp`` is ``numpy.exp`` on the CPU). Each name
    is looked up once per device and then kept, so a call through ``xp`` costs what a module attribute does."""

    def __init__(self):
        object.__setattr__(self, "_module", numpy)

    def _switch(self, module) -> None:
        self.__dict__.clear()
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name):
        value = getattr(self.__dict__["_module"], name)
        self.__dict__[name] = value
        return value

    def __repr__(self):
        return f"<xp: {self.__dict__['_module'].__name__}>"


xp = _ArrayModule()
_device = "cpu"


def _load(module_name: str):
    if module_name == "numpy":
        return numpy
    if module_name == "strict":
        from matnet import strict
        return strict
    try:  # pragma: no cover - needs CuPy
        import cupy
    except ImportError:
        raise MatnetError(f"--device cuda needs CuPy, which is not installed: {CUPY_HINT}") from None
    try:  # pragma: no cover - needs a GPU
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001 - CUDA reports a missing driver or GPU in several ways
        raise MatnetError(f"--device cuda: CuPy is installed but finds no usable NVIDIA GPU ({err}); "
                          f"check the driver with nvidia-smi, or use --device cpu") from None
    if count < 1:  # pragma: no cover
        raise MatnetError("--device cuda: CuPy finds no NVIDIA GPU; use --device cpu")
    return cupy  # pragma: no cover


def use_device(name: str) -> str:
    """Make ``name`` (``cpu``, ``cuda`` or ``strict``; or the module names ``numpy``, ``cupy``) the device of
    everything made from now on; returns the device's name. A MatnetError says what to install when CuPy or a
    GPU is missing. Choose the device before making a model: arrays stay on the device they were made on."""
    global _device, ENV_ERROR
    key = str(name).strip().lower()
    key = {module: device for device, module in DEVICES.items()}.get(key, key)
    if key not in DEVICES:
        raise MatnetError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    xp._switch(_load(DEVICES[key]))
    _device, ENV_ERROR = key, None
    return key


def device() -> str:
    """The current device: ``cpu``, ``cuda`` or ``strict``."""
    return _device


def device_info() -> dict:
    """What ``matnet info`` shows of the device: its name and, on a GPU, the GPU's, CuPy's and CUDA's versions."""
    info = {"device": _device, "array module": f"{xp.__name__} {xp.__version__}"}
    if _device == "cuda":  # pragma: no cover - needs a GPU
        runtime = xp.cuda.runtime
        props = runtime.getDeviceProperties(xp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        version = runtime.driverGetVersion()
        info.update(gpu=name, cuda_driver=f"{version // 1000}.{version % 1000 // 10}")
    return info


def is_device_array(a) -> bool:
    """True for an array of a device other than the host's (CuPy's, or the strict stand-in's)."""
    return not isinstance(a, (numpy.ndarray, numpy.generic)) and hasattr(a, "__array_function__")


def to_device(a, dtype=None):
    """``a`` (host data, or an array already on the device) as an array on the current device."""
    return xp.asarray(a, dtype=dtype)


def to_numpy(a) -> numpy.ndarray:
    """A NumPy array, wherever ``a`` lives: device arrays are copied to the host (and counted)."""
    if isinstance(a, (numpy.ndarray, numpy.generic)):
        return numpy.asarray(a)
    if is_device_array(a):
        transfers.count += 1
        return a.get()
    return numpy.asarray(a)


def to_host(a):
    """A device scalar (or a one-element array) as a Python number: the one way to read a value off the device."""
    return to_numpy(a).item()


def to_floats(values) -> list[float]:
    """Device scalars (or Python numbers) as Python floats, read together: one transfer for all of them."""
    values = list(values)
    if not values:
        return []
    return to_numpy(xp.stack([xp.asarray(v, dtype=numpy.float64) for v in values])).tolist()


class DeviceRandom:
    """A random generator whose numbers are drawn on the current device, and whose ``state`` a checkpoint saves.

    On the CPU (and the strict stand-in, which must match it bit for bit) it is NumPy's PCG64 Generator. On a GPU,
    CuPy's generator states cannot be saved, so each draw uses a fresh generator seeded with ``(seed, draws)``:
    the state is those two numbers.
    """

    def __init__(self, seed: int):
        self.seed, self.draws = int(seed), 0
        self._host = numpy.random.default_rng(self.seed) if _device != "cuda" else None
        self._wrap = xp.asarray if _device == "strict" else (lambda a: a)

    def _gen(self):
        if self._host is not None:
            return self._host
        self.draws += 1  # pragma: no cover - needs a GPU
        return xp.random.default_rng([self.seed, self.draws - 1])  # pragma: no cover

    def random(self, shape, dtype=numpy.float64):
        """Uniform numbers in [0, 1) of ``shape``."""
        return self._wrap(self._gen().random(shape, dtype=dtype))

    def uniform(self, low: float, high: float, shape):
        """Uniform float64 numbers in [low, high) of ``shape``."""
        return self._wrap(self._gen().uniform(low, high, shape))

    @property
    def state(self) -> dict:
        """JSON-ready: the generator's state, which ``state = saved`` puts back."""
        if self._host is not None:
            return self._host.bit_generator.state
        return {"seed": self.seed, "draws": self.draws}  # pragma: no cover

    @state.setter
    def state(self, value: dict) -> None:
        if self._host is not None:
            if "bit_generator" not in value:
                raise MatnetError("this checkpoint's random state was saved on a GPU; resume it on --device cuda")
            self._host.bit_generator.state = value
        else:  # pragma: no cover - needs a GPU
            if "draws" not in value:
                raise MatnetError("this checkpoint's random state was saved on the CPU; resume it on --device cpu")
            self.seed, self.draws = int(value["seed"]), int(value["draws"])


def random_state(rng) -> dict:
    """The state of a :class:`DeviceRandom` or a NumPy Generator (JSON-ready)."""
    return rng.state if isinstance(rng, DeviceRandom) else rng.bit_generator.state


def set_random_state(rng, state: dict) -> None:
    """Put back a state that ``random_state`` returned."""
    if isinstance(rng, DeviceRandom):
        rng.state = state
    else:
        rng.bit_generator.state = state


def check_environment() -> None:
    """A MatnetError (exit 2 on the command line) when ``MATNET_BACKEND`` names a device that cannot be used and no
    device was chosen since: a network refuses to be made rather than run somewhere the user did not ask for."""
    if ENV_ERROR is not None:
        raise SettingError(ENV_ERROR)


ENV_ERROR: str | None = None      # why MATNET_BACKEND could not be used; cleared by choosing a device
_requested = os.environ.get("MATNET_BACKEND", "").strip()
if _requested:
    try:
        use_device(_requested)
    except MatnetError as err:   # not at import: a bad variable must not break every command, --help included
        ENV_ERROR = f"MATNET_BACKEND={_requested[:40]!r}: {err} (or choose one with --device)"
