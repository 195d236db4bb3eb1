"""The connection's limits on a request's header section (``matnet.serve.connection``), with raw sockets against a
real uvicorn server running the protocol: headers past 64 KiB (many lines, or one line that never ends) are 431 and
the connection is closed; headers that arrive slowly (slowloris) or not at all are 408 after the wait; ordinary
requests, keep-alive ones included, are answered as before."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn

from matnet.serve import create_app
from matnet.serve.connection import MAX_HEADER_BYTES, bounded_protocol

WAIT_S = 0.5   # the header deadline of the server under test (the real one is 10 s)


@pytest.fixture(scope="module")
def port():
    """A server with no model (the app's health route answers) on a free port, with a short header deadline."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app([]), http=bounded_protocol(header_wait_s=WAIT_S), log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


def read_answer(raw: socket.socket) -> tuple[int, dict, bytes]:
    """Read until the server closes: (status, JSON body, all bytes)."""
    answer = b""
    try:
        while chunk := raw.recv(65536):
            answer += chunk
    except ConnectionResetError:      # the server closed with our unread bytes still in its buffer
        pass
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body.startswith(b"{") else {}, answer


def send_all(raw: socket.socket, data: bytes, piece: int = 16384) -> int:
    """Send in pieces until the server stops taking them; the bytes it took."""
    sent = 0
    try:
        for start in range(0, len(data), piece):
            raw.sendall(data[start:start + piece])
            sent += piece
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def health(port: int) -> bytes:
    return f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()


def test_headers_over_64_kib_in_many_lines_are_431(port):
    filler = "".join(f"X-Filler-{k}: {'a' * 1000}\r\n" for k in range(70)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        send_all(raw, health(port) + filler + b"Connection: close\r\n\r\n")
        status, body, _ = read_answer(raw)
    assert status == 431 and f"passed {MAX_HEADER_BYTES:,} bytes" in body["detail"]
    few = "".join(f"X-Filler-{k}: {'a' * 1000}\r\n" for k in range(10)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(health(port) + few + b"Connection: close\r\n\r\n")
        assert read_answer(raw)[0] == 200


def test_one_header_that_never_ends_is_cut_off_at_64_kib(port):
    """16 MB of one header value with no line end: httptools buffers a value until its line ends, so only a count
    of the raw bytes stops it. The server answers 431 and closes after about 64 KiB, long before the 16 MB."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        sent = send_all(raw, health(port) + b"X-Endless: " + b"a" * 16_000_000)
        status, body, _ = read_answer(raw)
    assert status == 431
    assert sent < 16_000_000      # refused on the way, with the socket buffers' worth of bytes in flight


def test_a_header_section_that_trickles_in_is_408(port):
    """Slowloris: a header line every 0.1 s, never the blank line. The answer is 408 at the deadline, and the
    connection is closed (the trickle stops being read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        started = time.monotonic()
        raw.sendall(health(port))
        try:
            for k in range(40):
                raw.sendall(f"X-Slow-{k}: a\r\n".encode())
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body, _ = read_answer(raw)
        took = time.monotonic() - started
    assert status == 408 and f"did not arrive within {WAIT_S:g} s" in body["detail"]
    assert took < 3.0             # the 40 lines would have taken 4 s


def test_a_connection_that_sends_nothing_is_closed_after_the_wait(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        started = time.monotonic()
        status, _, _ = read_answer(raw)
    assert status == 408 and time.monotonic() - started < 5.0


def test_keep_alive_requests_each_get_their_own_deadline(port):
    """Two requests on one connection, the second sent after more than the wait: each header section arrived
    whole, so both are answered (the wait is not counted across requests)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(health(port) + b"\r\n")
        first = raw.recv(65536)
        time.sleep(WAIT_S * 0.6)
        raw.sendall(health(port) + b"\r\n")
        time.sleep(WAIT_S * 0.6)          # past the wait since the first request's start, but not the second's
        second = raw.recv(65536)
    assert first.split()[1] == b"200" and second.split()[1] == b"200"
