"""matnet on a device (CuPy on an NVIDIA GPU) vs PyTorch on the same device: the MLP and the cnn preset's network.

    python bench/gpu_vs_torch.py [--device cuda] [--epochs 3] [--models mlp,cnn]

Same networks, initial weights, batch order and optimizers as bench/mlp_vs_torch.py and bench/cnn_vs_torch.py
(SGD + momentum, batch 128, the 50,000 MNIST training images), each framework in its own process. Prints seconds
per epoch (the first epoch apart: it compiles the GPU kernels; then the median of the others), the ratio matnet /
PyTorch, test accuracy and peak memory (on a GPU: CuPy's memory pool at its largest and PyTorch's
max_memory_allocated; on the CPU: peak resident memory). ``--device cpu`` runs the same comparison on the CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from cnn_vs_torch import MODELS  # noqa: F401 - registers "cnn" beside "mlp"
from mlp_vs_torch import load_data, peak_mib
from mlp_vs_torch import run_torch as torch_run

OPTIMIZER = {"mlp": {"lr": 0.1, "momentum": 0.9}, "cnn": {"lr": 0.05, "momentum": 0.9}}


def run_matnet(kind: str, device: str, epochs: int, weights: str, seed: int) -> dict:
    import matnet
    from matnet import Momentum
    from matnet.backend import to_device, xp
    from matnet.train import Callback

    matnet.use_device(device)
    build, _, shape = MODELS[kind]
    x, y, xt, yt = load_data(shape)
    model = build(seed)
    with np.load(weights) as w:
        for name, array in model.parameters.arrays().items():
            array[...] = to_device(w[name])
    times, pool_peak = [], [0]
    pool = xp.get_default_memory_pool() if device == "cuda" else None

    class Clock(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.started = time.perf_counter()

        def on_batch_end(self, trainer, step, loss):
            if pool is not None and step % 50 == 0:
                pool_peak[0] = max(pool_peak[0], pool.used_bytes())

        def on_epoch_end(self, trainer, epoch, metrics):   # the trainer has read its totals: the device is done
            times.append(time.perf_counter() - self.started)

    model.fit(x, y, epochs=epochs, batch_size=128, optimizer=Momentum(**OPTIMIZER[kind]), callbacks=[Clock()],
              seed=seed, verbose=0)
    accuracy = model.evaluate(xt, yt, verbose=0)["accuracy"]
    memory = pool.total_bytes() / 2**20 if pool is not None else peak_mib()
    return {"epoch_seconds": times, "test_accuracy": accuracy, "peak_mib": memory,
            "version": f"matnet on {device} ({xp.__name__} {xp.__version__})"}


def run_torch(kind: str, device: str, epochs: int, weights: str, seed: int) -> dict:
    return torch_run(kind, "momentum", epochs, weights, seed, device=device, settings=OPTIMIZER[kind])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["matnet", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = run_matnet if args.worker == "matnet" else run_torch
        print(json.dumps(run(args.model, args.device, args.epochs, args.weights, args.seed)))
        return
    if importlib.util.find_spec("torch") is None:
        sys.exit("PyTorch is not installed (make oracle on the CPU; a CUDA build of torch for --device cuda)")
    if args.device == "cuda" and importlib.util.find_spec("cupy") is None:
        sys.exit("CuPy is not installed: pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            weights = os.path.join(tmp, f"{kind}.npz")
            np.savez(weights, **MODELS[kind][0](args.seed).parameters.arrays())
            result = {}
            for framework in ("matnet", "torch"):
                done = subprocess.run([sys.executable, sys.argv[0], "--worker", framework, "--model", kind,
                                       "--device", args.device, "--epochs", str(args.epochs), "--weights", weights,
                                       "--seed", str(args.seed)], capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{framework} on {kind} failed:\n{done.stderr[-3000:]}")
                result[framework] = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((kind, result))
    print(f"MNIST 50,000 train images, batch 128, momentum, {args.epochs} epochs, same initial weights and batch "
          f"order; {rows[0][1]['matnet']['version']}, {rows[0][1]['torch']['version']}")
    print()
    print("| model | matnet 1st epoch s | matnet s/epoch | PyTorch s/epoch | matnet / PyTorch | matnet test acc "
          "| PyTorch test acc | matnet peak MiB | PyTorch peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, r in rows:
        later = lambda times: statistics.median(times[1:] or times)  # noqa: E731 - the first compiles kernels
        m, t = later(r["matnet"]["epoch_seconds"]), later(r["torch"]["epoch_seconds"])
        print(f"| {kind} | {r['matnet']['epoch_seconds'][0]:.2f} | {m:.3f} | {t:.3f} | {m / t:.2f}x "
              f"| {100 * r['matnet']['test_accuracy']:.2f}% | {100 * r['torch']['test_accuracy']:.2f}% "
              f"| {r['matnet']['peak_mib']:.0f} | {r['torch']['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
