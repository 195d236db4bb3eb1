"""Helpers of the serve tests (imported by name: tests/serve is on sys.path when they run)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def need(module: str, install: str):
    """``import module``, or a skip naming what to install (a failure under CI=true, where it must be there)."""
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is missing: {install}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


# --- a real server -------------------------------------------------------------------------------------------
def start_server(*models, timeout=60.0) -> tuple[subprocess.Popen, str, list[str]]:
    """``matnet serve MODELS --port 0`` as a process, the address it prints once it listens, and the list its
    output keeps going into (read by a thread, so that the pipe never fills)."""
    process = subprocess.Popen([sys.executable, "-m", "matnet", "serve", *map(str, models), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, found = [], queue.Queue()

    def read():
        for line in process.stdout:
            lines.append(line)
            if line.startswith("page: "):
                found.put(line.split()[1])
        found.put(None)

    process.reader = threading.Thread(target=read, daemon=True)
    process.reader.start()
    try:
        url = found.get(timeout=timeout)
    except queue.Empty:
        url = None
    if url is None:
        process.kill()
        raise AssertionError("matnet serve did not print its address:\n" + "".join(lines))
    return process, url, lines


def stop_server(process: subprocess.Popen, lines: list[str]) -> str:
    """Ctrl-C, as a person stops it; everything it printed."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    process.reader.join(timeout=5)    # it ends with the output
    return "".join(lines)


# --- a digit's strokes, from its pixels -----------------------------------------------------------------------
def skeleton(mask):
    """Zhang and Suen's thinning (1984): the ink of a binary image (H, W) worn down to lines one pixel wide."""
    import numpy as np

    image = np.asarray(mask, dtype=np.uint8).copy()
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = np.pad(image, 1)
            # the eight neighbours, clockwise from the top: p2 (north), p3 (north-east), ..., p9 (north-west)
            n = [p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:], p[2:, 2:], p[2:, 1:-1], p[2:, :-2], p[1:-1, :-2], p[:-2, :-2]]
            count = sum(n)
            turns = sum((n[i] == 0) & (n[(i + 1) % 8] == 1) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            side = ((p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)) if step == 0 else \
                ((p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0))
            remove = (image == 1) & (count >= 2) & (count <= 6) & (turns == 1) & side
            if remove.any():
                image[remove] = 0
                changed = True
    return image.astype(bool)


def strokes_of(lines) -> list[list[tuple[int, int]]]:
    """A one-pixel-wide drawing as pen strokes: polylines of (row, col) that visit every pixel, each starting at
    a line's end where there is one, stepping to an unvisited neighbour (straight before diagonal)."""
    pixels = {(int(r), int(c)) for r, c in zip(*lines.nonzero())}
    steps = [(-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1)]

    def neighbours(p):
        return [(p[0] + dr, p[1] + dc) for dr, dc in steps if (p[0] + dr, p[1] + dc) in pixels]

    left, strokes = set(pixels), []
    while left:
        ends = sorted(p for p in left if len([q for q in neighbours(p) if q in left]) <= 1)
        point = ends[0] if ends else min(left)
        stroke = [point]
        left.discard(point)
        while True:
            nxt = [q for q in neighbours(point) if q in left]
            if not nxt:
                break
            point = nxt[0]
            stroke.append(point)
            left.discard(point)
        strokes.append(stroke)
    return strokes


def watched_page(browser, url: str, width: int, height: int):
    """A new page of ``width`` x ``height`` and the list that collects what must not happen there: a script error,
    a console error, a request that leaves the server (the page works offline)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: problems.append(f"left the server: {request.url}")
            if not request.url.startswith(url) and not request.url.startswith("data:") else None)
    return page, problems
