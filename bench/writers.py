"""How well a model reads digits written unlike MNIST's writers: blocky scans, heavy slant, thick or thin strokes.

    python bench/writers.py RUN [RUN ...]

Each kind of matnet.data.writers (``KINDS``) made from all 10,000 MNIST test digits, given to the model as
28x28 arrays (no preprocessing), next to its accuracy on the plain test digits. Target: >= 95% on each kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from matnet.data import load_dataset
from matnet.data.writers import KINDS, apply_kind
from matnet.runfolder import load_model

TARGET = 0.95


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of ``images`` (N, 28, 28) uint8 that ``model`` reads as ``labels``."""
    x = (images.astype(np.float32) / 255.0).reshape(len(images), *model.input_shape)
    return float((model.predict(x) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders or model files (e.g. runs/demo)")
    args = parser.parse_args()
    data = load_dataset("mnist", progress=False)
    models = [load_model(Path(run)) for run in args.runs]
    print(f"{'kind':<12}" + "".join(f" {Path(run).name[-14:]:>14}" for run in args.runs))
    for kind in ("plain", *KINDS):
        images = data.test_images if kind == "plain" else apply_kind(kind, data.test_images)
        cells = [accuracy(model, images, data.test_labels) for model in models]
        print(f"{kind:<12}" + "".join(f" {100 * c:>13.2f}{'' if kind == 'plain' or c >= TARGET else '!'}"
                                      for c in cells), flush=True)
    print(f"(! below the target of {100 * TARGET:.0f}%)")


if __name__ == "__main__":
    main()
