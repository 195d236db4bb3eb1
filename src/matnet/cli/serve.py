"""``matnet serve``: the page where you draw a digit and watch the matrices work, and its JSON API, on uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys

import click

from matnet.errors import MatnetError
from matnet.serve import MAX_BODY_BYTES, MAX_IMAGE_PIXELS, create_app, load_models
from matnet.serve.guards import allowed_hosts
from matnet.cli.common import DEVICE_OPTION, echo

__all__ = ["serve", "is_loopback", "open_socket", "address"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one); MatnetError in one line when the port is
    taken or the host is not an address of this machine. Bound here, not by uvicorn, so that the address printed is
    the one served, port 0 included."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise MatnetError(f"--host {host}: not an address this machine can serve on ({err.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise MatnetError(f"port {port} on {host} is taken (another server?); choose another --port") from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise MatnetError(f"port {port} needs privileges on this machine; choose one above 1023") from None
        raise MatnetError(f"--host {host} --port {port}: cannot listen there ({err.strerror})") from None
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


@click.command()
@DEVICE_OPTION
@click.argument("models", nargs=-1, type=click.Path(), metavar="[RUN_OR_MODEL...]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default is this machine only; 0.0.0.0 is every network interface "
                   "(a warning is printed: anyone who reaches the machine can use the page). Requests must name "
                   "the server as localhost, 127.0.0.1, [::1] or this address in their Host header (any name "
                   "on 0.0.0.0).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: a free one, printed).")
def serve(models, host, port):
    """Serve a page to draw a digit and watch the network's matrices work, and a JSON API, for one or more
    RUN_OR_MODEL (run folders or model files; the page switches between them). With none, the page opens on its
    Train view: train a small network live on the cached MNIST and watch it learn, step by step.

    \b
    The page (/) shows the 28x28 image the model sees, the ten probabilities, and every layer as the
    operation it is: for a Dense layer x, W as a heat map, z = x @ W.T + b and the activation; for a
    convolution its feature maps. The API (/api/..., documented at /docs):
      GET  /api/health, /api/models, /api/models/NAME
      POST /api/predict      a PNG/JPEG upload or a JSON 28x28 array (?layers=true: every layer's output)
      POST /api/train        live training (the page's Train view): start, run, pause, step, check
    Ctrl-C stops the server. Model files are only read; nothing a request sends is written to disk.
    """
    import uvicorn   # imported here: the other commands never pay for the web stack

    from matnet.serve.connection import BoundedHttpProtocol

    served = load_models(list(models))
    app = create_app(served, hosts=allowed_hosts(host))
    sock = open_socket(host, port)
    if not is_loopback(host):
        echo(f"matnet: warning: --host {host} serves on a network interface: anyone who can reach this "
                   f"machine can use the page and the API (there is no login). Use it on a network you trust.",
                   err=True)
    url = address(sock)
    names = ", ".join(f"{one.name} ({one.kind}, {one.model.num_params:,} parameters)" for one in served)
    echo(f"serving {names}" if served else "serving no model: the page opens on live training (its Train view)")
    echo(f"page: {url}   API docs: {url}docs   (bodies up to {MAX_BODY_BYTES // 2**20} MiB, images up to "
               f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels; Ctrl-C stops)")
    sys.stdout.flush()   # a script or test waiting for the address reads it now, not when the server stops
    config = uvicorn.Config(app, http=BoundedHttpProtocol, log_level="warning", access_log=False,
                            server_header=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:   # uvicorn shuts down cleanly on Ctrl-C, then raises it again: the usual way to stop
        pass
    finally:
        sock.close()
    echo("stopped")
