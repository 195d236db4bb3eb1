"""matnet vs PyTorch (CPU) on the spec's MLP: same network, same initial weights, same batches, same optimizer.

    python bench/mlp_vs_torch.py [--epochs 5] [--repeats 1]

Trains 784-128-64-10 (ReLU, softmax cross-entropy) on the 50,000 MNIST training images with batch size 128,
once with SGD + momentum (lr 0.1, mu 0.9) and once with Adam (lr 1e-3), in matnet and in PyTorch. Each run
is a separate process (so its peak memory is its own): seconds per epoch (median over epochs), the ratio
matnet / PyTorch (below 1 means matnet is faster), test accuracy, and peak resident memory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = [784, 128, 64, 10]
OPTIMIZERS = {"momentum": {"lr": 0.1, "momentum": 0.9}, "adam": {"lr": 1e-3}}


def load_data():
    from matnet.data import load_dataset, prepare

    splits = prepare(load_dataset("mnist"))
    return splits.x_train, splits.y_train, splits.x_test, splits.y_test


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_matnet(optimizer: str, epochs: int, weights: str, seed: int) -> dict:
    from matnet import Adam, Momentum, build_mlp
    from matnet.train import Callback

    x, y, xt, yt = load_data()
    model = build_mlp(SIZES, seed=seed)
    with np.load(weights) as w:
        for name, array in model.parameters.arrays().items():
            array[...] = w[name]
    opt = Momentum(**OPTIMIZERS[optimizer]) if optimizer == "momentum" else Adam(**OPTIMIZERS[optimizer])
    times = []

    class Clock(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.started = time.perf_counter()

        def on_epoch_end(self, trainer, epoch, metrics):
            times.append(time.perf_counter() - self.started)

    model.fit(x, y, epochs=epochs, batch_size=128, optimizer=opt, callbacks=[Clock()], seed=seed)
    return {"epoch_seconds": times, "test_accuracy": model.evaluate(xt, yt)["accuracy"], "peak_mib": peak_mib()}


def run_torch(optimizer: str, epochs: int, weights: str, seed: int) -> dict:
    import torch
    import torch.nn.functional as F

    x, y, xt, yt = load_data()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with np.load(weights) as w, torch.no_grad():
        for i, layer in enumerate([model[0], model[2], model[4]], start=1):
            layer.weight.copy_(torch.from_numpy(w[f"dense_{i}.W"]))   # both keep W as (out, in)
            layer.bias.copy_(torch.from_numpy(w[f"dense_{i}.b"]))
    if optimizer == "momentum":
        opt = torch.optim.SGD(model.parameters(), **OPTIMIZERS[optimizer])
    else:
        opt = torch.optim.Adam(model.parameters(), **OPTIMIZERS[optimizer])
    rng = np.random.default_rng(seed)          # the same batch order as matnet's BatchIterator
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X)))
        total = 0.0
        for start in range(0, len(X), 128):
            idx = order[start:start + 128]
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()               # as matnet does: the running loss for the progress line
        times.append(time.perf_counter() - started)
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(xt)).argmax(1) == torch.from_numpy(yt)).float().mean().item()
    return {"epoch_seconds": times, "test_accuracy": accuracy, "peak_mib": peak_mib(),
            "version": f"torch {torch.__version__} ({torch.get_num_threads()} threads)"}


def worker(args) -> None:
    run = run_matnet if args.worker == "matnet" else run_torch
    print(json.dumps(run(args.optimizer, args.epochs, args.weights, args.seed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["matnet", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    # This process loads neither the data nor torch: Linux hands a parent's peak memory (ru_maxrss) on to the
    # children it starts, which would inflate theirs.
    if importlib.util.find_spec("torch") is None:
        sys.exit("PyTorch is not installed: run `make oracle` (installs the local CPU wheel)")
    from matnet import build_mlp
    from matnet.data import cache_path

    if not cache_path("mnist").exists():
        subprocess.run([sys.executable, "-c", "from matnet.data import fetch; fetch('mnist')"], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "init.npz")
        np.savez(weights, **build_mlp(SIZES, seed=args.seed).parameters.arrays())
        for optimizer in OPTIMIZERS:
            result = {}
            for framework in ("matnet", "torch"):
                done = subprocess.run([sys.executable, __file__, "--worker", framework, "--optimizer", optimizer,
                                       "--epochs", str(args.epochs), "--weights", weights, "--seed", str(args.seed)],
                                      capture_output=True, text=True, check=True)
                result[framework] = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((optimizer, result))

    print(f"MLP 784-128-64-10, MNIST 50,000 train images, batch 128, {args.epochs} epochs, same initial weights "
          f"and batch order; numpy {np.__version__}, {rows[0][1]['torch']['version']}, {os.cpu_count()} CPUs")
    print()
    print("| optimizer | matnet s/epoch | PyTorch s/epoch | matnet / PyTorch | matnet test acc | PyTorch test acc "
          "| matnet peak MiB | PyTorch peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for optimizer, r in rows:
        m, t = statistics.median(r["matnet"]["epoch_seconds"]), statistics.median(r["torch"]["epoch_seconds"])
        print(f"| {optimizer} | {m:.3f} | {t:.3f} | {m / t:.2f}x | {100 * r['matnet']['test_accuracy']:.2f}% "
              f"| {100 * r['torch']['test_accuracy']:.2f}% | {r['matnet']['peak_mib']:.0f} "
              f"| {r['torch']['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
