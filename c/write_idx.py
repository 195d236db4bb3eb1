"""Write MNIST from matnet's cache as the four uncompressed IDX files the C trainer reads:

    python c/write_idx.py DIR [--train-size N]

(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; the cache is
filled by `matnet data fetch mnist`.)"""

from __future__ import annotations

import argparse
from pathlib import Path

from matnet.data import load_dataset
from matnet.data.idx import write_idx
from matnet.data.sources import PARTS


def write_mnist_idx(folder, train_size: int | None = None, dataset: str = "mnist") -> dict:
    """The four raw IDX files in ``folder`` (made if needed), the training set cut to ``train_size`` images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = load_dataset(dataset, progress=False)
    arrays = {"train_images": data.train_images[:train_size], "train_labels": data.train_labels[:train_size],
              "test_images": data.test_images, "test_labels": data.test_labels}
    for part, stem in PARTS.items():
        write_idx(arrays[part], folder / stem)
    return {part: folder / stem for part, stem in PARTS.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--train-size", type=int, default=None, help="keep the first N training images")
    args = parser.parse_args()
    for path in write_mnist_idx(args.folder, args.train_size).values():
        print(path)
