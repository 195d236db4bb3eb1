"""The request body's size: :class:`BodyLimit`, ASGI middleware that refuses a body over the limit with 413."""

from __future__ import annotations

from matnet.serve.answers import refuse
from matnet.serve.inputs import MAX_BODY_BYTES

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(Exception):
    """A chunked body that grew past the limit while it was read (answered 413 by the app's handler)."""


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is refused with 413, by its Content-Length before anything
    is read, or (chunked) as soon as the bytes received pass the limit. Nothing beyond the limit is buffered."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((value for key, value in scope.get("headers", ()) if key == b"content-length"), None)
        if length is not None:
            if not length.isdigit():
                await refuse(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(length) > self.limit:
                await refuse(413, self._message(int(length)))(scope, receive, send)
                return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self._message(received, at_least=True))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, size: int, at_least: bool = False) -> str:
        more = "over " if at_least else ""
        return f"the body is {more}{size:,} bytes; the limit is {self.limit:,} bytes ({self.limit / 2**20:g} MiB)"
