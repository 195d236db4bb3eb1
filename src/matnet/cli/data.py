"""``matnet data fetch|info|export-idx``: get, verify and cache datasets; show what is cached; write a cached
dataset as the four raw IDX files that the C trainer (c/) reads."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from matnet.cli.common import echo, echo_json
from matnet.data.datasets import KNOWN, cache_dir, cache_path, cached_names, fetch, load_dataset
from matnet.data.idx import write_idx
from matnet.data.sources import PARTS
from matnet.errors import MatnetError
from matnet.fileio import atomic_path, refuse_special_target


@click.group()
def data():
    """Datasets: fetch (download, verify checksums, cache), info, and export-idx (raw IDX files for c/)."""


def _checksum(ctx, param, values):
    parsed = {}
    for value in values:
        part, sep, digest = value.partition("=")
        if not sep or part not in PARTS or len(digest) != 64:
            raise click.BadParameter(f"{value!r} is not PART=SHA256 with PART one of {', '.join(PARTS)}")
        parsed[part] = digest.lower()
    return parsed


@data.command("fetch")
@click.argument("name")
@click.option("--mirror", metavar="URL", help="Base URL of a mirror serving the four standard IDX .gz files.")
@click.option("--idx-dir", type=click.Path(file_okay=False), help="A folder with your own four IDX files "
              "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...).")
@click.option("--sha256", "sha256", multiple=True, callback=_checksum, metavar="PART=HEX",
              help="Expected SHA-256 of a part's uncompressed IDX bytes (repeatable).")
@click.option("--force", is_flag=True, help="Fetch again even if the dataset is cached.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fetch_command(name, mirror, idx_dir, sha256, force, as_json):
    """Fetch dataset NAME (mnist, fashion-mnist, or a name for your own files), verify and cache it."""
    path = cache_path(name)
    fetched = not path.exists() or force or bool(mirror or idx_dir)
    if fetched:
        path = fetch(name, mirror=mirror, idx_dir=idx_dir, sha256=sha256, progress=not as_json)
    dataset = load_dataset(name, download=False)
    if as_json:
        echo_json({"name": name, "path": str(path), "fetched": fetched, "train": len(dataset.train_images),
                   "test": len(dataset.test_images), "image_shape": list(dataset.image_shape),
                   "classes": list(dataset.classes)})
    elif not fetched:
        echo(f"{name}: already cached at {path}")
    else:
        echo(f"{name}: {len(dataset.train_images):,} train + {len(dataset.test_images):,} test images "
                   f"{'x'.join(map(str, dataset.image_shape))}, checksums verified, cached at {path}")


@data.command("info")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(name, as_json):
    """What is cached (or details of dataset NAME)."""
    names = [name] if name else cached_names()
    rows = []
    for n in names:
        d = load_dataset(n, download=False)
        rows.append({
            "name": n, "path": str(cache_path(n)), "image_shape": list(d.image_shape),
            "train": len(d.train_images), "test": len(d.test_images), "classes": list(d.classes),
            "train_class_counts": np.bincount(d.train_labels, minlength=len(d.classes)).tolist(),
            "pixel_mean": round(float(d.train_images.mean()) / 255, 4),
        })
    if as_json:
        echo_json({"cache": str(cache_dir()), "datasets": rows})
        return
    echo(f"cache: {cache_dir()}")
    if not rows:
        echo(f"nothing cached; known datasets: {', '.join(KNOWN)} (matnet data fetch NAME)")
    for r in rows:
        echo(f"{r['name']}: {r['train']:,} train + {r['test']:,} test, images "
                   f"{'x'.join(map(str, r['image_shape']))}, {len(r['classes'])} classes, "
                   f"mean pixel {r['pixel_mean']:.4f}")
        echo(f"  train images per class: {r['train_class_counts']}")


def export_idx(name: str, folder, *, train_size: int | None = None, force: bool = False,
               progress: bool = True) -> dict:
    """Dataset ``name`` (fetched first if it is not cached) as the four uncompressed IDX files in ``folder``
    (made if needed), the training set cut to its first ``train_size`` images: {part: path}. IDX files already
    there are refused unless ``force``; nothing else in the folder is touched."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            raise MatnetError(f"{path} is a file, not a folder: choose another folder")
    paths = {part: folder / stem for part, stem in PARTS.items()}
    for path in paths.values():
        refuse_special_target(path)             # a device or FIFO is never replaced, --force or not
    there = [path.name for path in paths.values() if path.exists() or path.is_symlink()]
    if there and not force:
        raise MatnetError(f"{folder} already holds {', '.join(there)}: choose another folder, or add --force to "
                          "replace them")
    dataset = load_dataset(name, progress=progress)
    arrays = {"train_images": dataset.train_images[:train_size], "train_labels": dataset.train_labels[:train_size],
              "test_images": dataset.test_images, "test_labels": dataset.test_labels}
    for part, path in paths.items():
        with atomic_path(path) as tmp:
            write_idx(arrays[part], tmp)
    return paths


@data.command("export-idx")
@click.argument("name")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--train-size", type=click.IntRange(min=1), metavar="N", help="Keep the first N training images.")
@click.option("--force", is_flag=True, help="Replace IDX files already in FOLDER.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export_idx_command(name, folder, train_size, force, as_json):
    """Write dataset NAME (e.g. mnist) as four uncompressed IDX files in FOLDER, for the C trainer:
    c/build/mnist-train --data FOLDER. The folder is made if needed; IDX files already there are refused
    without --force."""
    paths = export_idx(name, folder, train_size=train_size, force=force, progress=not as_json)
    train, test = (paths[part].stat().st_size - 8 for part in ("train_labels", "test_labels"))  # 8-byte headers
    if as_json:
        echo_json({"name": name, "folder": str(folder), "train": train, "test": test,
                   "files": [str(p) for p in paths.values()]})
        return
    echo(f"{name}: {train:,} train + {test:,} test images as raw IDX files in {folder}")
    echo(f"next: c/build/mnist-train --data {folder} --out runs/c   (build it with: make c)")
