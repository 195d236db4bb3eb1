"""How fast ``matnet serve`` answers ``POST /api/predict``: latency percentiles and requests per second, with 1 and
with 8 clients at once, on loopback.

    python bench/serve_latency.py [RUN_OR_MODEL] [--requests 2000] [--seconds 15] [--clients 1,8]
                                  [--body json,png] [--layers] [--json results.json]

A real ``matnet serve`` process (the command users run) on a free loopback port; each client is a thread with its
own keep-alive connection, sending one request after another (closed loop: a client waits for its answer before it
sends again), the request made once as bytes so that the clients take little of the CPU the server needs. Each
level runs until ``--requests`` answers or ``--seconds`` have passed, whichever comes first, after 50 requests of
warm-up. Bodies: ``json``, a real MNIST test digit as a 28x28 array (what a script sends);
``png``, the same digit drawn 280x280 as a PNG (what the page sends; preprocessed by the server). Without
RUN_OR_MODEL the default MLP (784-128-64-10) with untrained weights is served: the time does not depend on the
weights' values. Target: p99 < 20 ms with 8 clients (JSON, default MLP).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from matnet.architectures import build_mlp

TARGET_P99_MS = 20.0


def start_server(model: Path) -> tuple[subprocess.Popen, str, int]:
    process = subprocess.Popen([sys.executable, "-m", "matnet", "serve", str(model), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found: queue.Queue = queue.Queue()

    def read():
        for line in process.stdout:
            if line.startswith("page: "):
                found.put(line.split()[1])
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    url = found.get(timeout=60)
    if url is None:
        raise SystemExit("matnet serve did not start")
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return process, host, int(port)


def bodies(kinds: list[str]) -> dict[str, tuple[bytes, str]]:
    """A real MNIST test digit (a "7", from the local cache when it is there) as each kind of body."""
    try:
        from matnet.data import load_dataset

        data = load_dataset("mnist", download=False, progress=False)
        digit = data.test_images[0].astype(np.float64) / 255.0
    except Exception:  # noqa: BLE001 - no cache: a drawn stroke does as well for timing
        digit = np.zeros((28, 28))
        digit[6:22, 13:16] = 1.0
    made = {}
    if "json" in kinds:
        made["json"] = (json.dumps({"image": np.round(digit, 4).tolist()}).encode(), "application/json")
    if "png" in kinds:
        page = Image.fromarray(np.uint8(255 - 255 * digit)).resize((280, 280), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        page.save(buffer, "PNG")
        made["png"] = (buffer.getvalue(), "image/png")
    return made


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request made once, as bytes, and reads the answer by its
    Content-Length: a client that costs a few microseconds a request, so that the 2 cores go to the server."""

    def __init__(self, host: str, port: int, request: bytes):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = request
        self.buffer = b""

    def ask(self) -> tuple[int, bytes]:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self):
        self.sock.close()


def run_level(host: str, port: int, path: str, body: bytes, kind: str, clients: int, requests: int,
              seconds: float) -> dict:
    """``clients`` threads in a closed loop until ``requests`` answers or ``seconds``; latencies in ms."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    sent = [0]
    deadline = time.perf_counter() + seconds
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {kind}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def client():
        connection = Connection(host, port, request)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if sent[0] >= requests:
                        return
                    sent[0] += 1
                started = time.perf_counter()
                status, answer = connection.ask()
                elapsed = 1000 * (time.perf_counter() - started)
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"{status} {answer[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    a = np.asarray(latencies)
    return {"clients": clients, "requests": len(a), "errors": len(errors), "seconds": round(wall, 2),
            "rps": round(len(a) / wall, 1), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p90_ms": round(float(np.percentile(a, 90)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2), "first_error": errors[0] if errors else None}


def http_stack() -> str:
    """What uvicorn runs on here: httptools and uvloop (C) when installed, else h11 and asyncio (pure Python)."""
    from importlib.util import find_spec

    parser = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"uvicorn on {parser} + {loop}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", help="a run folder or model file (default: the default MLP, untrained)")
    parser.add_argument("--requests", type=int, default=2000, help="answers per level at most (default 2000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per level at most (default 15)")
    parser.add_argument("--clients", default="1,8", help="concurrent clients per level (default 1,8)")
    parser.add_argument("--body", default="json,png", help="json, png or both (default both)")
    parser.add_argument("--layers", action="store_true", help="ask for every layer's output too (?layers=true)")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    kinds = [k.strip() for k in args.body.split(",")]
    path = "/api/predict" + ("?layers=true&encoding=base64" if args.layers else "")

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else None
        if model is None:
            model = Path(tmp) / "default-mlp"
            build_mlp([784, 128, 64, 10], preprocessing={"dataset": "mnist"}).save(model)
        process, host, port = start_server(model)
        try:
            results = []
            for kind, (body, content_type) in bodies(kinds).items():
                run_level(host, port, path, body, content_type, 1, 50, 10.0)            # warm-up
                for clients in levels:
                    row = {"body": kind, **run_level(host, port, path, body, content_type, clients, args.requests,
                                                     args.seconds)}
                    results.append(row)
                    print(f"{kind:>4}  {clients} client{'s' if clients > 1 else ' '}  {row['requests']:>5} requests  "
                          f"p50 {row['p50_ms']:6.2f} ms  p90 {row['p90_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                          f"max {row['max_ms']:6.2f} ms  {row['rps']:7.1f} req/s  errors {row['errors']}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=20)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
               "platform": platform.platform(), "load_average": [round(x, 2) for x in os.getloadavg()],
               "http": http_stack()}
    print(f"machine: {machine['cpus']} CPUs, load average {machine['load_average'][0]} (other processes compete "
          f"for them), Python {machine['python']}, NumPy {machine['numpy']}, {machine['http']}")
    worst = [r for r in results if r["body"] == "json" and r["clients"] == 8]
    if worst:
        verdict = "met" if worst[0]["p99_ms"] < TARGET_P99_MS else "MISSED"
        print(f"target p99 < {TARGET_P99_MS:g} ms at 8 clients (JSON): {verdict} ({worst[0]['p99_ms']:.2f} ms)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": machine, "path": path, "results": results}, indent=2))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
