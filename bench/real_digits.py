"""How well ``matnet predict`` reads digits as people bring them: photographed, scanned, JPEG'd, on grey paper.

    python bench/real_digits.py RUN [--n 1000] [--numbers 200] [--seed 0] [--kinds noise,jpeg]

For each kind of page that tests/data/hard_digits.py makes from real MNIST test digits (grey and tinted paper,
noise, JPEG, a shadow, thin and thick pens, rotations, marks in the margin, light ink on dark), the model's
accuracy on ``--n`` pages, next to its accuracy on the same digits given as MNIST's own 28x28 arrays (what no
preprocessing can beat). Then two checks: the share of original 28x28 test digits whose prediction the
preprocessing leaves unchanged (the digit as a 28x28 image vs the MNIST array itself), and the share of
``--numbers`` 4-digit numbers (some digits touching) that ``predict --multi`` reads entirely right.
Targets: >= 97% on each kind, >= 99% unchanged, >= 90% of numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))

from hard_digits import KINDS, hard_set, number_page  # noqa: E402

from matnet.data import load_dataset  # noqa: E402
from matnet.data.images import gray_from_image, read_number, to_mnist  # noqa: E402
from matnet.errors import MatnetError  # noqa: E402
from matnet.runfolder import load_model  # noqa: E402


def classify(model, fields: list[np.ndarray]) -> np.ndarray:
    return model.predict_proba(np.stack(fields).reshape(len(fields), *model.input_shape)).argmax(axis=1)


def kind_row(model, kind: str, n: int, data, seed: int) -> dict:
    pages, labels, which = hard_set(kind, n, data.test_images, data.test_labels, seed=seed)
    started = time.perf_counter()
    fields, failed = [], 0
    for page in pages:
        try:
            fields.append(to_mnist(gray_from_image(page)))
        except MatnetError:
            fields.append(np.zeros((28, 28), np.float32))
            failed += 1
    seconds = time.perf_counter() - started
    reference = classify(model, list(data.test_images[which].astype(np.float32) / 255.0))
    return {"kind": kind, "n": n, "accuracy": float((classify(model, fields) == labels).mean()),
            "reference": float((reference == labels).mean()), "failed": failed, "ms": 1000 * seconds / n}


def unchanged(model, data, n: int) -> float:
    digits = data.test_images[:n].astype(np.float32) / 255.0
    return float((classify(model, [to_mnist(d) for d in digits]) == classify(model, list(digits))).mean())


def numbers(model, data, n: int, seed: int) -> tuple[float, float, float]:
    """(share of n 4-digit numbers read entirely right, share of their digits read right in place, share of
    the numbers whose four digits the model reads right as MNIST's arrays: the most segmenting could give)."""
    rng = np.random.default_rng([seed, 99])
    whole, digits, ceiling = 0, 0, 0
    for _ in range(n):
        which = rng.choice(len(data.test_images), size=4, replace=False)
        page = number_page(list(data.test_images[which]), rng)
        truth = "".join(str(label) for label in data.test_labels[which])
        ceiling += (classify(model, list(data.test_images[which] / 255.0)) == data.test_labels[which]).all()
        try:
            read = "".join(model.classes[p.argmax()] for _, _, p in read_number(gray_from_image(page),
                                                                                   model.predict_proba))
        except MatnetError:
            read = ""
        whole += read == truth
        digits += sum(a == b for a, b in zip(read, truth)) if len(read) == 4 else 0
    return whole / n, digits / (4 * n), ceiling / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder or model file (e.g. runs/demo)")
    parser.add_argument("--n", type=int, default=1000, help="pages per kind")
    parser.add_argument("--numbers", type=int, default=200, help="4-digit numbers for --multi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    args = parser.parse_args()
    model = load_model(Path(args.run))
    data = load_dataset("mnist", progress=False)
    print(f"{'kind':<10} {'pages':>6} {'accuracy':>9} {'as arrays':>10} {'no digit':>9} {'ms/page':>8}")
    for kind in args.kinds.split(","):
        row = kind_row(model, kind, args.n, data, args.seed)
        print(f"{row['kind']:<10} {row['n']:>6} {100 * row['accuracy']:>8.1f}% {100 * row['reference']:>9.1f}% "
              f"{row['failed']:>9} {row['ms']:>8.1f}", flush=True)
    print(f"original 28x28 digits: prediction unchanged on {100 * unchanged(model, data, 10_000):.2f}% of 10,000")
    if args.numbers:
        whole, digits, ceiling = numbers(model, data, args.numbers, args.seed)
        print(f"--multi: {100 * whole:.1f}% of {args.numbers} 4-digit numbers read entirely right "
              f"({100 * digits:.1f}% of their digits; {100 * ceiling:.1f}% have all four read right as arrays)")


if __name__ == "__main__":
    main()
