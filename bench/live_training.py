"""Live training in ``matnet serve`` against ``matnet train``: steps per second with the same settings, the latency
of one recorded step (the step-through), and the server's memory over a long run.

    python bench/live_training.py [--layers 784,128,64,10] [--batch-size 128] [--steps 300] [--minutes 3]
                                  [--memory-only] [--json results.json]

1. Steps per second. ``matnet train``'s own loop (``run.train_run``, the same trainer) on ``--steps`` steps
   (``subset = steps * batch size``, one epoch, no validation: the time is the epoch's ``seconds``), then a live
   session (``/api/train``) with the same settings running the same number of steps while a poller does what the
   page does (``GET /api/train/{id}`` and ``/history`` every 400 ms). Goal: live >= 80% of ``matnet train``.
2. Step-through latency: ``POST /api/train/{id}/step`` on the 784-128-64-10 network with 16 rows shown, both
   encodings (the page asks for base64), median and worst of 20. Goal: < 250 ms.
3. Memory: the process's resident set size (RSS, from /proc/self/status) sampled every 5 s while a session of
   784-128-64-10 in batches of 1 (the most steps a session can take) runs for ``--minutes``, polled as by the
   page. Bounded means flat after the first minute. ``--memory-only`` runs this part alone.

Everything runs in one process through the ASGI app (FastAPI's test client), so that the times are the server's
work without a network hop; the data is MNIST from the local cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time

from fastapi.testclient import TestClient

from matnet.architectures import build_mlp
from matnet.config import TrainConfig
from matnet.run import train_run
from matnet.serve import ServedModel, create_app

GOAL_RATIO, GOAL_STEP_MS = 0.80, 250.0


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def settings(layers, batch_size, steps) -> dict:
    return {"layers": layers, "optimizer": "momentum", "lr": 0.05, "batch_size": batch_size, "epochs": 1,
            "subset": steps * batch_size, "schedule": "constant", "seed": 0}


def cli_steps_per_second(layers, batch_size, steps, folder) -> float:
    config = TrainConfig(**settings(layers, batch_size, steps), val_size=0, weight_decay=0.0, out=str(folder))
    summary = train_run(config, progress=False)
    return steps / summary["train_seconds"]


class Poller(threading.Thread):
    """What the page does while a session runs: status and the new losses every 400 ms."""

    def __init__(self, client, session):
        super().__init__(daemon=True)
        self.client, self.session, self.stop, self.seen = client, session, threading.Event(), 0

    def run(self):
        while not self.stop.wait(0.4):
            self.client.get(f"/api/train/{self.session}")
            new = self.client.get(f"/api/train/{self.session}/history", params={"since": self.seen}).json()["loss"]
            if new:
                self.seen = new[-1][0]          # the last step answered (a long answer is thinned)


def wait_steps(client, session, steps, timeout=3600) -> None:
    deadline = time.monotonic() + timeout
    while client.get(f"/api/train/{session}").json()["step"] < steps and time.monotonic() < deadline:
        time.sleep(0.002)


def live_steps_per_second(client, layers, batch_size, steps) -> float:
    session = client.post("/api/train", json={**settings(layers, batch_size, steps), "weight_decay": 0.0}).json()["id"]
    poller = Poller(client, session)
    poller.start()
    started = time.perf_counter()
    client.post(f"/api/train/{session}/run", json={"steps": steps})
    wait_steps(client, session, steps)
    seconds = time.perf_counter() - started
    poller.stop.set()
    poller.join()
    client.delete(f"/api/train/{session}")
    return steps / seconds


def step_latency(client, layers) -> dict:
    session = client.post("/api/train", json={"layers": layers, "batch_size": 128}).json()["id"]
    found = {}
    for encoding in ("base64", "list"):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            answer = client.post(f"/api/train/{session}/step", params={"rows": 16, "encoding": encoding})
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
        found[encoding] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                           "bytes": len(answer.content)}
    client.delete(f"/api/train/{session}")
    return found


def memory(client, minutes) -> list:
    """784-128-64-10 in batches of 1 for 100 epochs (5 million steps, the longest a session can run: it is still
    training when the minutes are up), polled as by the page; (seconds, RSS MB, step) every 5 s."""
    session = client.post("/api/train", json={"layers": [784, 128, 64, 10], "batch_size": 1, "lr": 0.01,
                                              "epochs": 100}).json()["id"]
    poller = Poller(client, session)
    poller.start()
    client.post(f"/api/train/{session}/run", json={"steps": 1_000_000})
    samples, started = [], time.monotonic()
    while time.monotonic() - started < minutes * 60:
        samples.append((round(time.monotonic() - started), round(rss_mb(), 1),
                        client.get(f"/api/train/{session}").json()["step"]))
        time.sleep(5)
    poller.stop.set()
    poller.join()
    client.delete(f"/api/train/{session}")
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="784,128,64,10")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)   # 300 x 128 = 38,400 of the 50,000 training images
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--memory-only", action="store_true", help="only part 3, the memory over --minutes")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    layers = [int(n) for n in args.layers.split(",")]
    app = create_app([ServedModel("demo", build_mlp([784, 128, 64, 10]))])
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average": os.getloadavg(),
               "layers": layers, "batch_size": args.batch_size, "steps": args.steps}
    with TestClient(app, base_url="http://127.0.0.1") as client, tempfile.TemporaryDirectory() as tmp:
        if not args.memory_only:
            steps_and_latency(client, layers, args, tmp, results)
        if args.minutes > 0:
            samples = memory(client, args.minutes)
            results["rss_mb"] = samples
            after_first = [mb for seconds, mb, _ in samples if seconds >= 60] or [samples[-1][1]]
            print(f"RSS over {args.minutes:g} min of live training (784-128-64-10, batches of 1, polled): start "
                  f"{samples[0][1]} MB, after the first minute {min(after_first)}-{max(after_first)} MB, "
                  f"{samples[-1][2]:,} steps", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


def steps_and_latency(client, layers, args, tmp, results) -> None:
    """Parts 1 and 2: steps per second against ``matnet train``, and the step-through's latency."""
    live_steps_per_second(client, layers, args.batch_size, 20)          # warm-up: data read, code paths
    cli = cli_steps_per_second(layers, args.batch_size, args.steps, f"{tmp}/run")
    live = live_steps_per_second(client, layers, args.batch_size, args.steps)
    results.update(train_steps_per_s=round(cli, 1), live_steps_per_s=round(live, 1),
                   ratio=round(live / cli, 3))
    print(f"steps/s, {args.layers}, batch {args.batch_size}, {args.steps} steps: matnet train {cli:.1f}, "
          f"live with polling {live:.1f}: {live / cli:.0%} (goal >= {GOAL_RATIO:.0%})", flush=True)
    latency = step_latency(client, [784, 128, 64, 10])
    results["step_through"] = latency
    for encoding, figures in latency.items():
        print(f"step-through 784-128-64-10, 16 rows, {encoding}: median {figures['median_ms']} ms, worst "
              f"{figures['max_ms']} ms, {figures['bytes']:,} bytes (goal < {GOAL_STEP_MS:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
