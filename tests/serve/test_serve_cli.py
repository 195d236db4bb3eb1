"""``matnet serve`` on the command line: its help, its refusals in one line, the warning off loopback, and a real
process that answers on a free port and stops on Ctrl-C."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
import uvicorn

import matnet.cli.serve as serve_command
from matnet.cli.main import main
from matnet.cli.serve import address, is_loopback, open_socket
from matnet.errors import MatnetError
from serve_support import start_server, stop_server


def test_help_names_the_routes(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "RUN_OR_MODEL..." in out and "/api/predict" in out and "--host" in out and "127.0.0.1" in out
    assert main(["--help"]) == 0
    assert "matnet serve runs/x" in capsys.readouterr().out


def test_refusals_are_one_line(capsys, tmp_path):
    assert main(["serve", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run folder or model file" in err
    assert main(["serve", "--port", "70000"]) == 2     # no model is fine (the page trains live); a bad port is not
    assert main(["serve", "x", "--port", "70000"]) == 2


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_taken_port_or_an_unknown_host_is_one_message():
    first = open_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        assert address(first) == f"http://127.0.0.1:{port}/"
        with pytest.raises(MatnetError, match=f"port {port} on 127.0.0.1 is taken"):
            open_socket("127.0.0.1", port)
    finally:
        first.close()
    with pytest.raises(MatnetError, match="not an address this machine can serve on"):
        open_socket("no-such-host.invalid", 0)


def test_serving_beyond_loopback_warns(tiny_run, monkeypatch, capsys):
    bound = []

    def loopback_instead(host, port):     # the test itself listens on loopback only
        bound.append(host)
        return open_socket("127.0.0.1", 0)

    monkeypatch.setattr(serve_command, "open_socket", loopback_instead)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    assert main(["serve", str(tiny_run), "--host", "0.0.0.0"]) == 0
    captured = capsys.readouterr()
    assert bound == ["0.0.0.0"]
    assert "matnet: warning: --host 0.0.0.0 serves on a network interface" in captured.err
    assert "serving tiny (mlp, 109,386 parameters)" in captured.out and "stopped" in captured.out
    assert main(["serve", str(tiny_run)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_real_server_answers_and_stops_on_ctrl_c(tiny_run, cnn_file):
    process, url, lines = start_server(tiny_run, cnn_file)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/health", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok", "models": ["tiny", "little-cnn"]}
        request = urllib.request.Request(url + "api/predict", data=json.dumps([[0.0] * 28] * 28).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert len(json.loads(response.read())["probabilities"]) == 10
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), timeout=10) as raw:
            raw.sendall(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                        b"Content-Length: 99999999\r\n\r\n")
            assert raw.recv(200).startswith(b"HTTP/1.1 413")   # refused before a byte of the body is sent
    finally:
        out = stop_server(process, lines)
    assert process.returncode == 0 and out.rstrip().endswith("stopped"), out
