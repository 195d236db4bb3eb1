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


def matnet_mlp(seed):
    from matnet import build_mlp

    return build_mlp(SIZES, seed=seed)


def torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                               torch.nn.ReLU(), torch.nn.Linear(64, 10))


MODELS = {"mlp": (matnet_mlp, torch_mlp, (784,))}   # bench/cnn_vs_torch.py adds "cnn"


def load_data(shape=(784,)):
    from matnet.data import load_dataset, prepare

    splits = prepare(load_dataset("mnist"))
    reshape = lambda x: x.reshape(len(x), *shape)  # noqa: E731
    return reshape(splits.x_train), splits.y_train, reshape(splits.x_test), splits.y_test


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_matnet(kind: str, optimizer: str, epochs: int, weights: str, seed: int) -> dict:
    from matnet import Adam, Momentum
    from matnet.train import Callback

    build, _, shape = MODELS[kind]
    x, y, xt, yt = load_data(shape)
    model = build(seed)
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


def torch_model(torch, kind: str, weights: str, seed: int):
    """The PyTorch network of ``kind`` holding matnet's initial weights from the file ``weights``, layer by layer
    (both keep W as (out, in[, k, k]))."""
    build, build_torch, _ = MODELS[kind]
    model = build_torch(torch)
    ours = build(seed)
    with np.load(weights) as w:
        for name, array in ours.parameters.arrays().items():
            array[...] = w[name]
    theirs = [m for m in model.modules() if not list(m.children()) and list(m.parameters(recurse=False))]
    with torch.no_grad():
        for a, b in zip([layer for layer in ours.all_layers() if layer.params], theirs, strict=True):
            for array, tensor in zip(a.params.values(), b.parameters(recurse=False), strict=True):
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    return model


def run_torch(kind: str, optimizer: str, epochs: int, weights: str, seed: int, device: str = "cpu",
              settings: dict | None = None) -> dict:
    """PyTorch's run on ``device``, with ``OPTIMIZERS[optimizer]`` (or ``settings``, its hyperparameters);
    bench/gpu_vs_torch.py runs it on a GPU."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    x, y, xt, yt = load_data(MODELS[kind][2])
    X, Y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    model = torch_model(torch, kind, weights, seed).to(dev)
    make = torch.optim.SGD if optimizer == "momentum" else torch.optim.Adam
    opt = make(model.parameters(), **(settings or OPTIMIZERS[optimizer]))
    rng = np.random.default_rng(seed)          # the same batch order as matnet's BatchIterator
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X))).to(dev)
        total = torch.zeros((), device=dev)
        model.train()
        for start in range(0, len(X), 128):
            idx = order[start:start + 128]
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()             # as matnet does: the running loss stays where it is computed
        total.item()                           # read once per epoch (on a GPU: wait for the device)
        times.append(time.perf_counter() - started)
    model.eval()
    with torch.no_grad():
        xt_dev = torch.from_numpy(xt).to(dev)
        predicted = torch.cat([model(xt_dev[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
        accuracy = (predicted.cpu() == torch.from_numpy(yt)).float().mean().item()
    if device == "cuda":
        memory, version = torch.cuda.max_memory_allocated() / 2**20, f"torch {torch.__version__} on cuda"
    else:
        memory, version = peak_mib(), f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    return {"epoch_seconds": times, "test_accuracy": accuracy, "peak_mib": memory, "version": version}


def worker(args) -> None:
    run = run_matnet if args.worker == "matnet" else run_torch
    print(json.dumps(run(args.model, args.optimizer, args.epochs, args.weights, args.seed)))


def main(kind: str = "mlp", title: str = "MLP 784-128-64-10", default_epochs: int = 5, optimizers=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=default_epochs)
    parser.add_argument("--model", default=kind, help=argparse.SUPPRESS)
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
    from matnet.data import cache_path

    if not cache_path("mnist").exists():
        subprocess.run([sys.executable, "-c", "from matnet.data import fetch; fetch('mnist')"], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "init.npz")
        np.savez(weights, **MODELS[args.model][0](args.seed).parameters.arrays())
        for optimizer in optimizers or OPTIMIZERS:
            result = {}
            for framework in ("matnet", "torch"):
                done = subprocess.run([sys.executable, sys.argv[0], "--worker", framework, "--optimizer", optimizer,
                                       "--epochs", str(args.epochs), "--weights", weights, "--seed", str(args.seed),
                                       "--model", args.model], capture_output=True, text=True, check=True)
                result[framework] = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((optimizer, result))

    print(f"{title}, MNIST 50,000 train images, batch 128, {args.epochs} epochs, same initial weights "
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
