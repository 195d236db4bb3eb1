"""Make the example photos in this folder from real MNIST *test* digits (which no matnet model trains on).

    python examples/make_examples.py

seven-shadow.png    a 7 on grey paper with a shadow across the page (tests/data/hard_digits.py, kind "shadow")
two-ballpoint.png   a 2 written with a thin pen, 1-3 pixels wide (kind "thin")
number-2024.png     four digits written as a number, two of them touching (for matnet predict --multi)

The pages are seeded: running this again writes the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "data"))

from hard_digits import hard_digit, number_page  # noqa: E402

from matnet.data import load_dataset  # noqa: E402


def first_of(labels: np.ndarray, digit: int, skip: int = 0) -> int:
    return int(np.flatnonzero(labels == digit)[skip])


def main() -> None:
    data = load_dataset("mnist", progress=False)
    images, labels = data.test_images, data.test_labels
    hard_digit("shadow", images[first_of(labels, 7)], np.random.default_rng(7)).save(HERE / "seven-shadow.png")
    hard_digit("thin", images[first_of(labels, 2)], np.random.default_rng(2)).save(HERE / "two-ballpoint.png")
    digits = [images[first_of(labels, d, skip)] for d, skip in ((2, 1), (0, 0), (2, 2), (4, 0))]
    number_page(digits, np.random.default_rng(2024), touching=0.5).save(HERE / "number-2024.png")
    for name in ("seven-shadow.png", "two-ballpoint.png", "number-2024.png"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
