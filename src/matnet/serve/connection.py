"""The HTTP connection under the app: uvicorn's httptools protocol with a limit on a request's header section, in
bytes and in time, enforced as the bytes arrive (before any ASGI code, which sees a request only once its headers
are whole).

Without it a client can send headers without end (9,000 lines of 65,000 bytes took the server from 336 to 709 MB,
held in uvicorn's list of headers and in httptools' buffer of the value being read), or send them one byte at a
time and hold a connection open for ever (slowloris: uvicorn's only timer, ``timeout_keep_alive``, runs between
requests, not inside one). So, counting from the first byte of a request (or from the connection's opening):

    bytes received before the blank line that ends the headers  >  MAX_HEADER_BYTES   ->  431, connection closed
    seconds before that blank line                              >  HEADER_WAIT_S      ->  408, connection closed

Two counts: the headers as parsed (exact, checked when they are complete), and the raw bytes received while they
are incomplete (checked after each read; httptools keeps a header's value to itself until its line ends, so only
this count stops a line that never ends). The body has its own limits
(``matnet.serve.body_limit``).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BoundedHttpProtocol", "MAX_HEADER_BYTES", "HEADER_WAIT_S", "bounded_protocol"]

MAX_HEADER_BYTES = 64 * 1024   # a browser sends a few kB
HEADER_WAIT_S = 10.0           # a browser sends its headers in one packet


def _refusal(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP answer that closes the connection, with the API's ``{"detail": ...}`` body."""
    body = ('{"detail": "' + message + '"}').encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


class BoundedHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses a header section over ``max_header_bytes`` (431) or still incomplete
    ``header_wait_s`` seconds after the request began (408), and drops what else the connection sends."""

    max_header_bytes = MAX_HEADER_BYTES
    header_wait_s = HEADER_WAIT_S

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._awaiting_headers = True      # between requests and inside a header section
        self._raw_bytes = 0                # bytes received while awaiting headers (bounds a line that never ends)
        self._header_bytes = 0             # the request line's target and the headers as parsed (exact)
        self._refused = False
        self._deadline = self.loop.call_later(self.header_wait_s, self._headers_too_slow)

    def connection_lost(self, exc) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_headers:
            self._raw_bytes += len(data)
            if self._deadline is None:
                self._deadline = self.loop.call_later(self.header_wait_s, self._headers_too_slow)
        super().data_received(data)
        if not self._refused and self._awaiting_headers and self._raw_bytes > self.max_header_bytes:
            self._too_large()

    # the parser's callbacks: after a refusal the rest of what was read is dropped, not parsed into a request
    def on_message_begin(self) -> None:
        if not self._refused:
            self._header_bytes = 0
            super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._header_bytes += len(url)
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            self._header_bytes += len(name) + len(value) + 4     # "name: value\r\n"
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._awaiting_headers = False
        self._raw_bytes = 0
        self._stop_deadline()
        if self._header_bytes > self.max_header_bytes:
            self._too_large()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()
            self._awaiting_headers = True  # the next request's headers: their deadline starts with their first byte

    def _too_large(self) -> None:
        self._refuse(431, "Request Header Fields Too Large",
                     f"the request's headers passed {self.max_header_bytes:,} bytes (the limit)")

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if self._awaiting_headers and not self._refused:
            self._refuse(408, "Request Timeout",
                         f"the request's headers did not arrive within {self.header_wait_s:g} s")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._refused = True
        self._stop_deadline()
        if not self.transport.is_closing():
            self.transport.write(_refusal(status, reason, message))
            self.transport.close()

    def _stop_deadline(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None


def bounded_protocol(max_header_bytes: int = MAX_HEADER_BYTES, header_wait_s: float = HEADER_WAIT_S) -> type:
    """The protocol class to give ``uvicorn.Config(http=...)``, with these limits."""
    return type("BoundedHttpProtocol", (BoundedHttpProtocol,),
                {"max_header_bytes": max_header_bytes, "header_wait_s": header_wait_s})
