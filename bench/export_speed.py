"""The exported 784-128-64-10 against matnet and onnxruntime, and the network trained in C against matnet.

    python bench/export_speed.py [--model RUN_OR_MODEL] [--images 10000] [--epochs 3]

Inference: one image at a time, one thread, over the MNIST test images: the exported C (`matnet export --format c`,
built with the README's `cc -O2 -std=c99 -Wall -Wextra -pedantic`, timed inside C with clock()), onnxruntime on
the exported ONNX (intra-op threads 1) and matnet's own ``predict_proba``; microseconds per image, and the same
for batches of 1,000. The target: the C below 50 us per image. Without --model, a 784-128-64-10 is trained for
3 epochs first (the numbers depend little on the weights, but zero inputs skip work in the C, so a trained
network's sparse activations are the fair case).

Training: c/ (built as `make c` builds it) against matnet's Trainer, the same network, SGD with momentum 0.9, lr 0.1
constant, batch 128, the 60,000 training images: seconds per epoch (median), matnet on one BLAS thread and on all
of them. This process and its workers run on one thread unless told otherwise (OMP_NUM_THREADS etc.).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):   # before NumPy loads its BLAS
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STRICT = ["-O2", "-std=c99", "-Wall", "-Wextra", "-pedantic"]
TIMER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

/* timer N REPEATS < images.f32: CPU microseconds per matnet_predict call over N images, REPEATS times */
int main(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[1], NULL, 10) : 0, repeats = argc > 2 ? strtol(argv[2], NULL, 10) : 0, r, k;
    long checksum = 0;
    float *images = malloc((size_t)(n > 0 ? n : 1) * MATNET_INPUT_SIZE * sizeof *images);
    float probabilities[MATNET_NUM_CLASSES];
    clock_t start;
    if (n < 1 || repeats < 1 || images == NULL
            || fread(images, sizeof *images, (size_t)n * MATNET_INPUT_SIZE, stdin) != (size_t)n * MATNET_INPUT_SIZE)
        return 1;
    start = clock();
    for (r = 0; r < repeats; r++)
        for (k = 0; k < n; k++)
            checksum += matnet_predict(images + k * MATNET_INPUT_SIZE, probabilities);
    printf("%.4f %ld\n", 1e6 * (double)(clock() - start) / CLOCKS_PER_SEC / (double)(n * repeats), checksum);
    free(images);
    return 0;
}
"""


def data():
    from matnet.data import load_dataset
    from matnet.data.prepare import normalize

    mnist = load_dataset("mnist", progress=False)
    return mnist, normalize(mnist.train_images), mnist.train_labels.astype(np.int64), normalize(mnist.test_images)


def trained_mlp(path: str | None, x, y):
    from matnet import Momentum, build_mlp, load_model, make_schedule

    if path:
        return load_model(path)
    model = build_mlp([784, 128, 64, 10], seed=0)
    model.fit(x, y, epochs=3, optimizer=Momentum(0.1, 0.9, schedule=make_schedule("cosine", epochs=3)))
    return model


def per_image(run, rows: np.ndarray, batch: int = 1) -> float:
    """Microseconds per image of ``run(batch of rows)``, over all rows (best of two passes)."""
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for k in range(0, len(rows), batch):
            run(rows[k:k + batch])
        best = min(best, time.perf_counter() - started)
    return 1e6 * best / len(rows)


def c_inference(model, x: np.ndarray, tmp: Path) -> float:
    from matnet.export import export_c

    export_c(model, tmp / "c")
    (tmp / "timer.c").write_text(TIMER_C)
    binary = tmp / "timer"
    subprocess.run(["cc", *STRICT, f"-I{tmp / 'c'}", "-o", str(binary), str(tmp / "timer.c"),
                    str(tmp / "c" / "model.c"), "-lm"], check=True)
    repeats = max(1, 50_000 // len(x))
    done = subprocess.run([str(binary), str(len(x)), str(repeats)], input=x.tobytes(), capture_output=True, check=True)
    return float(done.stdout.split()[0])


def onnx_inference(model, x: np.ndarray) -> tuple[float, float, str] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from matnet.export import to_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), options, providers=["CPUExecutionProvider"])
    run = lambda rows: session.run(["probabilities"], {"image": rows})  # noqa: E731
    return per_image(run, x), per_image(run, x, 1000), ort.__version__


def c_trainer(epochs: int, mnist, tmp: Path) -> list[float]:
    from matnet.data.idx import write_idx
    from matnet.data.sources import PARTS

    arrays = {"train_images": mnist.train_images, "train_labels": mnist.train_labels,
              "test_images": mnist.test_images, "test_labels": mnist.test_labels}
    for part, stem in PARTS.items():
        write_idx(arrays[part], tmp / stem)
    binary = tmp / "mnist-train"
    subprocess.run(["cc", "-O3", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-o", str(binary),
                    *map(str, sorted((ROOT / "c").glob("*.c"))), "-lm"], check=True)
    (tmp / "run").mkdir()
    subprocess.run([str(binary), "--data", str(tmp), "--out", str(tmp / "run"), "--epochs", str(epochs),
                    "--schedule", "constant"], check=True, capture_output=True)
    return [json.loads(line)["seconds"] for line in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]


def matnet_trainer_worker(epochs: int) -> None:
    """(In a worker process, with its own thread settings) matnet's seconds per epoch, printed as JSON."""
    from matnet import Momentum, build_mlp
    from matnet.train import Callback

    mnist, x, y, _ = data()
    seconds = {"wall": [], "cpu": []}

    class Clock(Callback):
        def on_epoch_begin(self, trainer, epoch):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, trainer, epoch, metrics):
            seconds["wall"].append(time.perf_counter() - self.started[0])
            seconds["cpu"].append(time.process_time() - self.started[1])

    build_mlp([784, 128, 64, 10], seed=0).fit(x, y, epochs=epochs, optimizer=Momentum(0.1, 0.9), callbacks=[Clock()])
    print(json.dumps(seconds))


def matnet_trainer(epochs: int, threads: str | None) -> dict[str, list[float]]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
        if threads:
            env[var] = threads
    done = subprocess.run([sys.executable, __file__, "--worker", str(epochs)], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model file or run folder (784 inputs); default: train one for 3 epochs")
    parser.add_argument("--images", type=int, default=10_000, help="test images to time inference on")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time the trainers on")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return matnet_trainer_worker(args.worker)
    if shutil.which("cc") is None:
        sys.exit("no C compiler (cc): apt-get install gcc")

    mnist, x, y, xt = data()
    model = trained_mlp(args.model, x, y)
    rows = np.ascontiguousarray(xt[:args.images], dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        c_us = c_inference(model, rows, Path(tmp))
    ort_us = onnx_inference(model, rows)
    matnet_us = per_image(model.predict_proba, rows), per_image(model.predict_proba, rows, 1000)
    runtime = f"onnxruntime {ort_us[2]}" if ort_us else "no onnxruntime (pip install onnxruntime)"
    print(f"inference, 784-128-64-10, {len(rows):,} MNIST test images, one thread, microseconds per image "
          f"(numpy {np.__version__}, {runtime}, {os.cpu_count()} CPUs)")
    print()
    print("| | one image at a time | batches of 1,000 |")
    print("|---|---|---|")
    print(f"| exported C (cc -O2) | **{c_us:.1f}** | - |")
    if ort_us:
        print(f"| onnxruntime | {ort_us[0]:.1f} | {ort_us[1]:.2f} |")
    print(f"| matnet predict_proba | {matnet_us[0]:.1f} | {matnet_us[1]:.2f} |")
    print(f"\nC target < 50 us per image: {'met' if c_us < 50 else 'NOT met'} ({c_us:.1f} us)\n")

    with tempfile.TemporaryDirectory() as tmp:
        c_epochs = c_trainer(args.epochs, mnist, Path(tmp))
    one, every = matnet_trainer(args.epochs, "1"), matnet_trainer(args.epochs, None)
    c_s = statistics.median(c_epochs)
    rows = [("matnet, one BLAS thread (CPU time)", statistics.median(one["cpu"])),
            ("matnet, one BLAS thread (wall clock)", statistics.median(one["wall"])),
            ("matnet, BLAS threads as it likes (wall clock)", statistics.median(every["wall"]))]
    print(f"training 784-128-64-10, 60,000 images, batch 128, momentum 0.9, lr 0.1, {args.epochs} epochs, "
          f"seconds per epoch (median)")
    print()
    print("| trainer | s/epoch | C / this |")
    print("|---|---|---|")
    print(f"| c/ (cc -O3, one thread; CPU time, C's clock()) | {c_s:.2f} | 1.00x |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {c_s / seconds:.2f}x |")


if __name__ == "__main__":
    main()
