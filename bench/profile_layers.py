"""Where a training step goes: milliseconds per step in each layer's forward and backward, largest first.

    python bench/profile_layers.py [--model cnn] [--steps 100] [--batch-size 128]

Wraps every layer's ``forward`` and ``backward`` in a timer, trains the preset's network for ``--steps`` steps on
real MNIST (SGD + momentum, as ``bench/cnn_vs_torch.py``) and prints a table; the last line compares the layers'
sum with the whole step (the rest is the loss, the optimizer and the loop).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from matnet import Momentum
from matnet.data import load_dataset, prepare
from matnet.architectures import build_cnn, build_fastcnn, build_mlp, build_resnet

BUILDERS = {"mlp": lambda seed: build_mlp([784, 128, 64, 10], seed=seed),
            "cnn": lambda seed: build_cnn((28, 28), 10, dropout=0.25, seed=seed),
            "fastcnn": lambda seed: build_fastcnn((28, 28), 10, seed=seed),     # the speedrun preset's network
            "resnet": lambda seed: build_resnet((28, 28), 10, seed=seed)}


def timed(method, key, totals):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = method(*args, **kwargs)
        totals[key] += time.perf_counter() - started
        return result
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=list(BUILDERS), default="cnn")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    model = BUILDERS[args.model](0)
    n = args.steps * args.batch_size
    splits = prepare(load_dataset("mnist"))
    x = splits.x_train[:n].reshape(n, *model.input_shape)
    y = splits.y_train[:n]
    totals = defaultdict(float)
    for layer in model.all_layers():     # residual blocks' inner layers too: their time is inside the block's
        for name in ("forward", "backward"):
            setattr(layer, name, timed(getattr(layer, name), (layer.name, name), totals))
    started = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=args.batch_size, optimizer=Momentum(lr=0.05, momentum=0.9), seed=0)
    step_ms = (time.perf_counter() - started) / args.steps * 1000

    print(f"{args.model}, batch {args.batch_size}, {args.steps} steps: {step_ms:.1f} ms a step")
    print()
    print("| layer | forward ms/step | backward ms/step |")
    print("|---|---|---|")
    names = dict.fromkeys(name for name, _ in sorted(totals, key=lambda k: -totals[k]))
    for name in names:
        print(f"| {name} | {1000 * totals[name, 'forward'] / args.steps:.2f} "
              f"| {1000 * totals[name, 'backward'] / args.steps:.2f} |")
    top = [layer.name for layer in model.layers]
    print()
    print(f"top-level layers: {1000 * sum(v for (name, _), v in totals.items() if name in top) / args.steps:.1f} "
          f"ms of the {step_ms:.1f} ms step")


if __name__ == "__main__":
    main()
