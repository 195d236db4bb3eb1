"""Hostile requests against a real ``matnet serve`` process (issue 27), each made here, small: a burst of noise
PNGs from many clients at once (the server's memory measured around it), a request naming a foreign ``Host`` (DNS
rebinding), a body in a transfer coding the server does not understand, an upload cut off half-way; and the
``Host`` rules and the image gate themselves."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import re
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from matnet.architectures import build_mlp
from matnet.serve.guards import LOOPBACK_NAMES, allowed_hosts, host_name
from matnet.serve.inputs import BadRequest
from matnet.serve.memory import IMAGE_SLOTS
from serve_support import start_server, stop_server


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small untrained MLP saved as a model file (the weights do not matter here)."""
    stem = tmp_path_factory.mktemp("hostile") / "small"
    build_mlp([784, 16, 10], seed=0, preprocessing={"dataset": "mnist"}).save(stem)
    return stem.with_suffix(".npz")


@pytest.fixture(scope="module")
def server(model_file):
    """(port, the list the server's output keeps going into): stdout and stderr together, its log."""
    process, url, lines = start_server(model_file)
    yield int(url.rsplit(":", 1)[1].strip("/")), lines
    out = stop_server(process, lines)
    assert process.returncode == 0 and "stopped" in out, out


def exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, dict]:
    """Send raw bytes, read the answer until the server closes: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(request)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def get(port: int, path: str, host: str) -> tuple[int, dict]:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())


# --- item 10: Host ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "[::2]",
                                  "localhost.", "10.0.0.1"])
def test_a_foreign_host_is_400(server, host):
    port, _ = server
    status, body = get(port, "/api/health", host.format(port=port))
    assert status == 400 and "this server answers to 127.0.0.1, [::1], localhost only" in body["detail"]
    assert get(port, "/", host.format(port=port))[0] == 400          # the page too


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "[::1]",
                                  "LOCALHOST:80"])
def test_loopback_hosts_with_any_port_are_answered(server, host):
    port, _ = server
    assert get(port, "/api/health", host.format(port=port)) == (200, {"status": "ok", "models": ["small"]})


def test_models_give_the_file_name_not_its_path(server, model_file):
    port, _ = server
    status, models = get(port, "/api/models", "localhost")
    assert status == 200 and models[0]["path"] == "small.npz"
    status, one = get(port, "/api/models/small", "localhost")
    assert status == 200 and one["path"] == "small.npz" and str(model_file.parent) not in json.dumps(one)


def test_create_app_answers_loopback_names_by_default(model_file):
    from fastapi.testclient import TestClient

    from matnet.serve import create_app, load_models

    app = create_app(load_models([model_file]))
    assert TestClient(app).get("/api/health").status_code == 400           # TestClient's Host: testserver
    assert TestClient(app, base_url="http://localhost:8000").get("/api/health").status_code == 200


@pytest.mark.parametrize("listen, allowed", [
    ("127.0.0.1", LOOPBACK_NAMES), ("localhost", LOOPBACK_NAMES), ("::1", LOOPBACK_NAMES),
    ("127.8.9.10", LOOPBACK_NAMES | {"127.8.9.10"}), ("192.168.1.5", LOOPBACK_NAMES | {"192.168.1.5"}),
    ("fe80::1", LOOPBACK_NAMES | {"[fe80::1]"}), ("Box.Lan", LOOPBACK_NAMES | {"box.lan"}),
    ("0.0.0.0", None), ("::", None)])
def test_the_hosts_a_server_answers_follow_its_address(listen, allowed):
    assert allowed_hosts(listen) == allowed


@pytest.mark.parametrize("header, name", [("localhost:8000", "localhost"), ("[::1]:8000", "[::1]"),
                                          ("[::1]", "[::1]"), ("EVIL.example", "evil.example"), ("", ""),
                                          ("127.0.0.1:abc", "127.0.0.1:abc"), ("localhost:80:81", "localhost:80:81"),
                                          ("localhost:", "localhost:"), ("[::1]x", "[::1]x"),
                                          ("[::1]:8o", "[::1]:8o")])
def test_host_name_drops_the_port(header, name):
    assert host_name(header) == name


# --- item 11: Transfer-Encoding -----------------------------------------------------------------------------------
@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate,chunked", "identity, chunked"])
def test_a_transfer_coding_other_than_chunked_is_501(server, coding):
    port, _ = server
    body = json.dumps([[0.0] * 28] * 28).encode()
    request = (f"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               f"Transfer-Encoding: {coding}\r\nConnection: close\r\n\r\n{len(body):x}\r\n").encode() \
        + body + b"\r\n0\r\n\r\n"
    status, answer = exchange(port, request)
    assert status == 501 and f"Transfer-Encoding: {coding}: only plain 'chunked'" in answer["detail"]
    plain = request.replace(f"Transfer-Encoding: {coding}".encode(), b"Transfer-Encoding: chunked")
    status, answer = exchange(port, plain)          # the same body, plainly chunked, is classified
    assert status == 200 and len(answer["probabilities"]) == 10


# --- item 6: an aborted upload ------------------------------------------------------------------------------------
def test_an_aborted_upload_is_one_line_in_the_log(server):
    port, lines = server
    before = len(lines)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                    b"Content-Length: 100000\r\n\r\n" + b"\x89PNG" + bytes(396))   # 400 bytes of 100,000
    deadline = time.monotonic() + 10
    while len(lines) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)                                 # anything else it would write (a traceback) arrives too
    logged = lines[before:]
    assert len(logged) == 1, "".join(logged)
    assert "POST /api/predict from 127.0.0.1: the client closed the connection before the body was complete " \
           "(Content-Length 100000); request dropped" in logged[0]
    assert get(port, "/api/health", "localhost")[0] == 200     # and it goes on serving



# --- item 2: a burst of big uploads -------------------------------------------------------------------------------
BURST_CLIENTS = 24
NOISE_SIDE = 1000              # a 1000x1000 RGB noise PNG: 3 MB, incompressible, and no digit in it (422)


def _blank_png(side: int) -> bytes:
    stream = io.BytesIO()
    Image.new("RGBA", (side, side), (255, 255, 255, 255)).save(stream, "PNG")
    return stream.getvalue()


BLANK_PNG_SMALL = _blank_png(64)


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MB, from /proc."""
    status = open(f"/proc/{pid}/status").read()
    return {key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}


def burst(pid: int, port: int, png: bytes, clients: int) -> tuple[dict, list[int], dict]:
    """The server's memory before, the statuses of ``clients`` uploads of ``png`` at once, its memory after."""
    before, statuses = memory_mb(pid), []
    threads = [threading.Thread(target=lambda: statuses.append(upload(port, png))) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.5)
    return before, statuses, memory_mb(pid)


def upload(port: int, png: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/predict", body=png, headers={"Content-Type": "image/png"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the server's memory from /proc")
def test_a_burst_of_big_uploads_leaves_the_memory_as_it_was(model_file):
    rng = np.random.default_rng(0)
    stream = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (NOISE_SIDE, NOISE_SIDE, 3), dtype=np.uint8)).save(stream, "PNG",
                                                                                             compress_level=0)
    png = stream.getvalue()
    process, url, lines = start_server(model_file)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert upload(port, png) == 422                       # one first: what decoding an image loads is loaded
        before, statuses, after = burst(process.pid, port, png, BURST_CLIENTS)
    finally:
        out = stop_server(process, lines)
    print(f"{len(png) / 1e6:.1f} MB PNG x {BURST_CLIENTS} clients: resident {before['VmRSS']:.0f} MB before, "
          f"peak {after['VmHWM']:.0f} MB, {after['VmRSS']:.0f} MB after")
    assert statuses == [422] * BURST_CLIENTS, statuses           # each one answered: no digit in noise
    # A few images at a time (about 25 MB each while it is decoded), not 24; and what they took is given back.
    assert after["VmHWM"] - before["VmRSS"] < 30 + 30 * IMAGE_SLOTS, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 25, (before, after)
    assert "Traceback" not in out, out


BLANK_SIDE = 4000              # a blank white 4000x4000 RGBA PNG: 16 megapixels in 70 kB, no digit in it (422)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the server's memory from /proc")
def test_big_blank_uploads_that_end_in_an_error_leave_the_memory_as_it_was(model_file):
    """The stranger's probe: after uploads refused with 422 "no digit found", the server held what their decoding
    took (110 -> 195 MB; 12 at once: 309 MB) until the next successful prediction: the trim ran while the error's
    traceback still held the decoded arrays."""
    png = _blank_png(BLANK_SIDE)
    process, url, lines = start_server(model_file)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert upload(port, BLANK_PNG_SMALL) == 422           # what decoding any image loads is loaded
        before = memory_mb(process.pid)
        one = upload(port, png)                                # one alone, then 3 at once
        _, statuses, after = burst(process.pid, port, png, 3)
    finally:
        out = stop_server(process, lines)
    print(f"{len(png) / 1e3:.0f} kB blank PNG x 4: resident {before['VmRSS']:.0f} MB before, peak "
          f"{after['VmHWM']:.0f} MB, {after['VmRSS']:.0f} MB after")
    assert [one, *statuses] == [422] * 4, statuses             # no digit found
    assert after["VmRSS"] - before["VmRSS"] < 25, (before, after)
    assert "Traceback" not in out, out


def test_an_image_that_finds_no_free_slot_in_time_is_503_with_retry_after(model_file):
    from fastapi.testclient import TestClient

    from matnet.serve import create_app, load_models
    from matnet.serve.memory import ImageGate

    gate = ImageGate(slots=1, wait=0.05)
    asyncio.run(gate._free.acquire())                 # the one slot taken, as by a long decode
    client = TestClient(create_app(load_models([model_file]), gate=gate), base_url="http://localhost")
    response = client.post("/api/predict", content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "decoding 1 images already" in response.json()["detail"]
    sent = client.post("/api/predict", json=[[0.0] * 28] * 28)      # a JSON array needs no slot
    assert sent.status_code == 200
    gate._free.release()
    assert client.post("/api/predict", content=b"\x89PNG", headers={"Content-Type": "image/png"}).status_code == 415


def test_the_gate_lets_slots_in_and_releases_memory_when_the_last_leaves(monkeypatch):
    import matnet.serve.memory as memory

    released = []
    monkeypatch.setattr(memory, "release_memory", lambda: released.append(True))

    async def burst():
        gate = memory.ImageGate(slots=2, wait=0.05)
        async with gate.slot():
            async with gate.slot():
                assert gate.inside == 2
                with pytest.raises(BadRequest) as refused:
                    async with gate.slot():
                        pass
                assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}
            assert released == []                   # one image still inside
        assert gate.inside == 0 and released == [True]

    asyncio.run(burst())


def test_an_image_body_that_does_not_arrive_in_time_is_408(monkeypatch):
    import matnet.serve.uploads as uploads
    from starlette.requests import Request

    monkeypatch.setattr(uploads, "BODY_WAIT_S", 0.05)       # 30 s in the server

    async def receive():                        # a client that sends its headers, then nothing
        await asyncio.sleep(10)

    request = Request({"type": "http", "method": "POST", "path": "/api/predict", "headers": []}, receive)
    with pytest.raises(BadRequest) as refused:
        asyncio.run(uploads.read_body(request))
    assert refused.value.status == 408 and "did not arrive within 0.05 s" in refused.value.message


@pytest.mark.parametrize("path,kind,body", [
    ("/api/predict", "application/json", b"[[0.0, 0.0, 0.0,"),              # a JSON array that stops arriving
    ("/api/train", "application/json", b'{"layers": [784,'),                # a live-training start, likewise
    ("/api/predict", "image/png", b""),                                     # headers, then not one byte
])
def test_every_body_that_stops_arriving_is_408(app, monkeypatch, path, kind, body):
    """Every route's body, not only an image's, must arrive within BODY_WAIT_S (30 s in the server): a client that
    declares 5 MB and sends a few bytes gets 408 and its connection's memory back, instead of a wait without end."""
    import matnet.serve.inputs as inputs

    monkeypatch.setattr(inputs, "BODY_WAIT_S", 0.2)
    sent, chunks = [], [{"type": "http.request", "body": body, "more_body": True}]

    async def receive():
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)               # then nothing more, ever

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", kind.encode()),
                         (b"content-length", b"5000000")]}

    async def call():
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(call())
    start = next(message for message in sent if message["type"] == "http.response.start")
    body_sent = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    assert start["status"] == 408 and b"did not arrive within 0.2 s" in body_sent


def post_json(port: int, path: str, headers: dict, body: bytes = b"[[0.0]]") -> tuple[int, dict]:
    lines = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    return exchange(port, f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n{lines}Connection: close\r\n\r\n".encode() + body)


@pytest.mark.parametrize("headers,words", [
    ({"Origin": "http://evil.example"}, "Origin 'http://evil.example': only this server's own page"),
    ({"Origin": "null"}, "Origin 'null'"),
    ({"Origin": "http://127.0.0.1:1"}, "Origin 'http://127.0.0.1:1'"),                # another port, another site
    ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
])
def test_a_costly_request_from_another_site_is_403(server, headers, words):
    """A page elsewhere can POST to the server without a preflight (a form, or fetch with a simple type): the
    browser's Origin and Sec-Fetch-Site say so, and the request is refused before it costs anything."""
    port, _ = server
    status, body = post_json(port, "/api/predict", headers)
    assert status == 403 and words in body["detail"]
    assert post_json(port, "/api/train", headers, b"{}")[0] == 403


def test_the_pages_own_origin_and_scripts_pass(server):
    port, _ = server
    own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    for headers in (own, {}):                  # the page (same origin), then curl (neither header)
        status, body = post_json(port, "/api/predict", headers)
        assert status == 422 and "28 rows of 28" in body["detail"]     # reached the route: a 1x1 array is refused there
    assert get(port, "/api/health", "127.0.0.1")[0] == 200


@pytest.mark.parametrize("path", ["/api/health", "/", "/api/models", "/static/app.js"])
def test_head_answers_like_get_without_the_body(server, path):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"200" and body == b""
    length = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    assert int(length.split(b":")[1]) > 0                      # the length the GET answer has


def test_headers_over_64_kib_are_431(server):
    """16 MB of headers were answered 200; past 64 KiB in all the request is refused before any route runs."""
    port, _ = server
    filler = "".join(f"X-Filler-{k}: {'a' * 1000}\r\n" for k in range(70))
    status, body = exchange(port, f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n{filler}Connection: close\r\n\r\n"
                            .encode())
    assert status == 431 and "passed 65,536 bytes" in body["detail"]
    few = "".join(f"X-Filler-{k}: {'a' * 1000}\r\n" for k in range(10))
    assert exchange(port, f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n{few}Connection: close\r\n\r\n"
                    .encode())[0] == 200
