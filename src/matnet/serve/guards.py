"""Checks a request passes before any route sees it: the ``Host`` it names, and how its body is framed.

``Host``: a page on another site that the user's browser opens can point a name it owns at 127.0.0.1 (DNS
rebinding) and then read this server's answers as its own; the browser still sends that name in ``Host``. So a
server on loopback answers only requests that name it by a loopback name (``localhost``, ``127.0.0.1``,
``[::1]``, any port), and a server on another address also to that address (``--host 192.168.1.5``); one on every
interface (``0.0.0.0``, ``::``) cannot know the names it is reached by and accepts any (it warns at start).
Starlette's ``TrustedHostMiddleware`` does the matching but refuses a request without ``Host`` (HTTP/1.0, which
this server answers) and answers in plain text, not the API's ``{"detail": ...}``; so the check is kept here.

``Origin`` and ``Sec-Fetch-Site``: a request that changes something or costs work (POST, PATCH, DELETE) from a page
of another site is refused with 403, so that no page the user opens elsewhere can keep the server busy.

``Transfer-Encoding``: only plain ``chunked`` is understood; anything else (``gzip, chunked``) is refused with 501
instead of being parsed as if the coding were not there.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from matnet.serve.inputs import BadRequest

__all__ = ["RequestGuard", "LOOPBACK_NAMES", "allowed_hosts", "host_name"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
EVERY_INTERFACE = ("0.0.0.0", "::", "[::]", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")    # they read only: any page may ask (the answers are not its to read)


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The names a ``Host`` header may give for a server listening on ``host`` (``--host``): the loopback names,
    and ``host`` itself (IPv6 in brackets, as a Host header writes it); None (any) on every interface."""
    host = host.strip().lower()
    if host in EVERY_INTERFACE:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return LOOPBACK_NAMES | {host}


def host_name(value: str) -> str:
    """A Host header's name without its port, lowercase: ``[::1]:8000`` -> ``[::1]``, ``Localhost:80`` ->
    ``localhost``. A port that is not a number (``localhost:abc``, ``localhost:80:81``, ``localhost:``) leaves the
    whole value, which names no host that is served."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name, port = name + "]", rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return value
    else:
        name, colon, port = value.partition(":")
        port = port if colon else None
    return name if port is None or port.isdigit() else value


def _header(scope, name: bytes) -> str | None:
    """All values of a header, joined by ``, `` as HTTP allows (None when it is absent)."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]
    return ", ".join(values) if values else None


def _without_body(send):
    """``send`` for a HEAD request: the GET answer's start (status, headers, Content-Length) and an empty body."""
    async def head_send(message):
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)
    return head_send


class RequestGuard:
    """ASGI middleware: 400 for a ``Host`` outside ``hosts`` (None: any), 501 for a ``Transfer-Encoding`` other than
    ``chunked``; both before the route runs. A request without ``Host`` (HTTP/1.0, never a browser) passes."""

    def __init__(self, app, hosts: frozenset[str] | None = LOOPBACK_NAMES):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refusal = self.check(scope)
            if refusal is not None:
                response = JSONResponse({"detail": refusal.message}, status_code=refusal.status)
                await response(scope, receive, send)
                return
            if scope["method"] == "HEAD":       # every GET route answers HEAD: its headers, without the body
                await self.app({**scope, "method": "GET"}, receive, _without_body(send))
                return
        await self.app(scope, receive, send)

    def check(self, scope) -> BadRequest | None:
        """What is wrong with the request's headers, or None."""
        coding = _header(scope, b"transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            return BadRequest(501, f"Transfer-Encoding: {coding[:100]}: only plain 'chunked' is understood "
                                   f"(send the body as it is, with a Content-Length)")
        host = _header(scope, b"host")
        if self.hosts is not None and host is not None and host_name(host) not in self.hosts:
            names = ", ".join(sorted(self.hosts))
            return BadRequest(400, f"Host {host[:100]!r}: this server answers to {names} only (matnet serve "
                                   f"--host names the address it serves on)")
        if scope.get("method") not in SAFE_METHODS:
            return self._cross_site(scope, host)
        return None

    def _cross_site(self, scope, host: str | None) -> BadRequest | None:
        """403 for a request that changes something or costs work (POST, PATCH, DELETE) sent by a page of another
        site: the browser says so in ``Sec-Fetch-Site``, and in ``Origin``, which must then be this server's own
        (``http://`` + the ``Host`` the request names). A form or ``fetch`` from elsewhere needs no preflight, so
        without this any page the user opens could keep the server busy. Scripts (curl) send neither: they pass."""
        site = _header(scope, b"sec-fetch-site")
        if site is not None and site.strip().lower() == "cross-site":
            return BadRequest(403, "a request from a page of another site (Sec-Fetch-Site: cross-site) is refused")
        origin = _header(scope, b"origin")
        if origin is None:
            return None
        own = {f"{scheme}://{host.strip().lower()}" for scheme in ("http", "https")} if host else set()
        if origin.strip().lower() not in own:
            return BadRequest(403, f"Origin {origin[:100]!r}: only this server's own page may send this request")
        return None
