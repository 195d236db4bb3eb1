"""``matnet data fetch|info``: get, verify and cache datasets; show what is cached."""

from __future__ import annotations

import click
import numpy as np

from matnet.cli.common import echo_json
from matnet.data.datasets import KNOWN, cache_dir, cache_path, cached_names, fetch, load_dataset
from matnet.data.sources import PARTS


@click.group()
def data():
    """Datasets: fetch (download, verify checksums, cache) and info."""


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
        click.echo(f"{name}: already cached at {path}")
    else:
        click.echo(f"{name}: {len(dataset.train_images):,} train + {len(dataset.test_images):,} test images "
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
    click.echo(f"cache: {cache_dir()}")
    if not rows:
        click.echo(f"nothing cached; known datasets: {', '.join(KNOWN)} (matnet data fetch NAME)")
    for r in rows:
        click.echo(f"{r['name']}: {r['train']:,} train + {r['test']:,} test, images "
                   f"{'x'.join(map(str, r['image_shape']))}, {len(r['classes'])} classes, "
                   f"mean pixel {r['pixel_mean']:.4f}")
        click.echo(f"  train images per class: {r['train_class_counts']}")
