"""Hostile requests against a real ``matnet serve`` process (issue 27), each made here, small: a request naming a
foreign ``Host`` (DNS rebinding), a body in a transfer coding the server does not understand, an upload cut off
half-way; and the ``Host`` rules themselves."""

from __future__ import annotations

import json
import socket
import time

import pytest

from matnet.model import build_mlp
from matnet.serve.guards import LOOPBACK_NAMES, allowed_hosts, host_name
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
                                          ("[::1]", "[::1]"), ("EVIL.example", "evil.example"), ("", "")])
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

