"""99% on MNIST on the CPU: matnet's ``speedrun`` preset against a standard PyTorch recipe, in one run.

    python bench/speedrun.py [--seeds 0,1,2] [--threads 2] [--json results.json]

Three rows, each run of each seed in its own process, all on ``--threads`` cores (PyTorch's intra-op threads,
matnet's BLAS threads):

1. **PyTorch's recipe** (the anchor): Conv 5x5 1->16, ReLU, MaxPool 2, Conv 5x5 16->32, ReLU, MaxPool 2, Dense
   1568->128, ReLU, Dense 10 (PyTorch's own initialisation), batch 256, Adam with PyTorch's one-cycle schedule
   (``OneCycleLR``, peak 4e-3, 25% warm-up), 3 epochs on all 60,000 training images.
2. **matnet's preset**: ``matnet train --preset speedrun --seed S`` (``run.train_run``, what the command runs);
   its time is ``train_seconds`` of the run's summary.json.
3. **The preset in PyTorch**: the preset's network (each matnet layer as its PyTorch twin) with matnet's initial
   weights, the same batches in the same order, the same learning rate at every step and the same optimizer.

Each row gives the test accuracy after every epoch (the evaluation is not timed) and the training seconds (data
loading and evaluation excluded), per seed and as the median, and the ratio of each median to the anchor's.
Row 1 against row 2 is the target (two recipes, each in the framework it was written for); row 3 against row 2 is
the frameworks alone on the same work.
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

ANCHOR = {"epochs": 3, "batch_size": 256, "peak_lr": 4e-3, "warmup_fraction": 0.25}
GOAL_ACCURACY, GOAL_RATIO = 0.99, 0.75


def mnist():
    """All 60,000 training images and the 10,000 test images, (N, 1, 28, 28) float32 in [0, 1]."""
    from matnet.data import load_dataset, prepare

    splits = prepare(load_dataset("mnist"), val_size=0)
    images = lambda x: x.reshape(len(x), 1, 28, 28)  # noqa: E731
    return images(splits.x_train), splits.y_train, images(splits.x_test), splits.y_test


def torch_accuracy(torch, model, xt, yt) -> float:
    model.eval()
    with torch.no_grad():
        X = torch.from_numpy(xt)
        predicted = torch.cat([model(X[i:i + 1000]).argmax(1) for i in range(0, len(X), 1000)])
    model.train()
    return (predicted.numpy() == yt).mean().item()


def torch_train(torch, model, optimizer, scheduler, epochs: int, batch_size: int, order,
                label_smoothing: float = 0.0) -> dict:
    """Train ``model`` on MNIST: ``order(epoch)`` gives each epoch's row order; the scheduler steps after every
    batch. Seconds per epoch (training only) and the test accuracy after each."""
    import torch.nn.functional as F

    x, y, xt, yt = mnist()
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    seconds, accuracy = [], []
    for epoch in range(epochs):
        started = time.perf_counter()
        rows = torch.from_numpy(order(epoch))
        for begin in range(0, len(X), batch_size):
            idx = rows[begin:begin + batch_size]
            loss = F.cross_entropy(model(X[idx]), Y[idx], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        seconds.append(time.perf_counter() - started)
        accuracy.append(torch_accuracy(torch, model, xt, yt))
    return {"seconds": seconds, "accuracy": accuracy}


def run_anchor(seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    epochs, batch = ANCHOR["epochs"], ANCHOR["batch_size"]
    optimizer = torch.optim.Adam(model.parameters(), lr=ANCHOR["peak_lr"])
    steps = epochs * -(-60_000 // batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=ANCHOR["peak_lr"], total_steps=steps,
                                                    pct_start=ANCHOR["warmup_fraction"])
    rng = np.random.default_rng(seed)
    return torch_train(torch, model, optimizer, scheduler, epochs, batch, lambda epoch: rng.permutation(60_000))


def preset_config(seed: int, out: str):
    from matnet.config import PRESETS, TrainConfig

    return TrainConfig(**{**PRESETS["speedrun"], "seed": seed, "out": out})


def torch_twin(torch, matnet_model):
    """The PyTorch network of the same layers as ``matnet_model`` holding its current weights."""
    nn = torch.nn
    twins = []
    for layer in matnet_model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            twin = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                             bias=layer.bias)
        elif kind == "Dense":
            twin = nn.Linear(layer.in_features, layer.out_features)
        elif kind == "BatchNorm":
            twin = (nn.BatchNorm2d if len(layer.input_shape) == 3 else nn.BatchNorm1d)(layer.num_features,
                                                                                         eps=layer.eps,
                                                                                         momentum=layer.momentum)
        elif kind == "MaxPool2D":
            twin = nn.MaxPool2d(layer.pool_size, layer.stride)
        else:
            twin = {"ReLU": nn.ReLU, "Flatten": nn.Flatten}[kind]()
        with torch.no_grad():
            for tensor, key in zip(twin.parameters(recurse=False), layer.params, strict=True):
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(layer.params[key])))
        twins.append(twin)
    return nn.Sequential(*twins)


def run_torch_preset(seed: int) -> dict:
    """The preset's network, weights, batch order and per-step learning rate, in PyTorch."""
    import torch

    from matnet.data import load_dataset
    from matnet.optim.schedules import make_schedule
    from matnet.run import build_model

    config = preset_config(seed, "unused")
    model = torch_twin(torch, build_model(config, load_dataset("mnist")))
    if config.optimizer != "adam":
        raise SystemExit(f"the preset's optimizer is {config.optimizer}: teach this bench its PyTorch twin")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = make_schedule(config.schedule, config.epochs, config.warmup)
    steps_per_epoch = -(-60_000 // config.batch_size)
    # matnet's k-th step (from 1) runs at the rate of its progress k / steps_per_epoch; LambdaLR gives the k-th
    # step the factor of lambda(k - 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: schedule((n + 1) / steps_per_epoch, 1.0))
    rng = np.random.default_rng(config.seed)   # the trainer's batch order
    return torch_train(torch, model, optimizer, scheduler, config.epochs, config.batch_size,
                       lambda epoch: rng.permutation(60_000), label_smoothing=config.label_smoothing)


def run_matnet(seed: int) -> dict:
    from matnet.run import train_run
    from matnet.train import Callback

    x, y, xt, yt = mnist()
    accuracy = []

    class TestAccuracy(Callback):    # on_epoch_end comes after the epoch's seconds are taken: not timed
        def on_epoch_end(self, trainer, epoch, metrics):
            accuracy.append(float((trainer.model.predict(xt) == yt).mean()))

    with tempfile.TemporaryDirectory() as tmp:
        summary = train_run(preset_config(seed, os.path.join(tmp, "run")), progress=False, callbacks=[TestAccuracy()])
        with open(os.path.join(tmp, "run", "metrics.jsonl")) as lines:
            seconds = [json.loads(line)["seconds"] for line in lines if line.strip()]
    return {"seconds": seconds, "accuracy": accuracy, "train_seconds": summary["train_seconds"],
            "test_accuracy": summary["test_accuracy"]}


WORKERS = {"anchor": run_anchor, "matnet": run_matnet, "torch-preset": run_torch_preset}
ROWS = {"anchor": "PyTorch: its recipe (5x5 CNN, batch 256, Adam one-cycle, 3 epochs)",
        "matnet": "matnet: --preset speedrun", "torch-preset": "PyTorch: the preset's network and recipe"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rows", default="anchor,matnet,torch-preset")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker != "matnet":
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(WORKERS[args.worker](args.seed)))
        return
    if importlib.util.find_spec("torch") is None:
        sys.exit("PyTorch is not installed: run `make oracle` (installs the local CPU wheel)")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = args.rows.split(",")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads)}
    results = {row: [] for row in rows}
    for seed in seeds:                  # seed by seed, so that a drift of the machine's speed touches every row
        for row in rows:
            done = subprocess.run([sys.executable, sys.argv[0], "--worker", row, "--seed", str(seed),
                                   "--threads", str(args.threads)], capture_output=True, text=True, env=env)
            if done.returncode:
                sys.exit(f"{row} (seed {seed}) failed:\n{done.stderr[-3000:]}")
            results[row].append({"seed": seed, **json.loads(done.stdout.strip().splitlines()[-1])})
            one = results[row][-1]
            print(f"{row:13} seed {seed}: {sum(one['seconds']):6.1f} s, test accuracy by epoch "
                  + " ".join(f"{100 * a:.2f}%" for a in one["accuracy"]), flush=True)
    report(results, args.threads)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


def report(results: dict, threads: int) -> None:
    import platform

    median = {row: statistics.median(sum(one["seconds"]) for one in runs) for row, runs in results.items()}
    anchor = median.get("anchor")
    print(f"\nMNIST, 60,000 training images, {threads} threads, {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}; seconds are training only (median over seeds)\n")
    print("| run | seeds | test accuracy (last epoch, each seed) | lowest | seconds (each seed) | median s "
          "| / PyTorch's recipe |")
    print("|---|---|---|---|---|---|---|")
    for row, runs in results.items():
        last = [one["accuracy"][-1] for one in runs]
        ratio = f"{median[row] / anchor:.2f}x" if anchor else ""
        accuracies = " ".join(f"{100 * a:.2f}%" for a in last)
        seconds = " ".join(f"{sum(one['seconds']):.1f}" for one in runs)
        print(f"| {ROWS[row]} | {len(runs)} | {accuracies} | {100 * min(last):.2f}% | {seconds} | {median[row]:.1f} "
              f"| {ratio} |")
    if anchor and "matnet" in median:
        lowest = min(one["accuracy"][-1] for one in results["matnet"])
        ok = lowest >= GOAL_ACCURACY and median["matnet"] <= GOAL_RATIO * anchor
        print(f"\ngoal: every seed >= {100 * GOAL_ACCURACY:.1f}% and median <= {GOAL_RATIO}x PyTorch's recipe: "
              f"{'met' if ok else 'NOT met'} ({100 * lowest:.2f}%, {median['matnet'] / anchor:.2f}x)")


if __name__ == "__main__":
    main()
