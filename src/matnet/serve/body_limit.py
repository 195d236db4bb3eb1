"""The request body's size and time: :class:`BodyLimit`, ASGI middleware that refuses a body over the limit with
413, and one that has not all arrived ``BODY_WAIT_S`` seconds after the route began to read it with 408."""

from __future__ import annotations

import asyncio
import time

from matnet.serve.answers import refuse
from matnet.serve import inputs
from matnet.serve.inputs import MAX_BODY_BYTES

__all__ = ["BodyLimit", "BodyTooLarge"]


class BodyTooLarge(Exception):
    """A chunked body that grew past the limit while it was read (answered 413 by the app's handler)."""


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is refused with 413, by its Content-Length before anything
    is read, or (chunked) as soon as the bytes received pass the limit. Nothing beyond the limit is buffered."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, wait: float | None = None):
        self.app = app
        self.limit = limit
        self.wait = wait        # None: BODY_WAIT_S as it is when a request comes (tests shorten it)

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
        received, deadline, complete, late = 0, None, False, False
        wait = inputs.BODY_WAIT_S if self.wait is None else self.wait

        async def limited_receive():
            nonlocal received, deadline, complete, late
            if complete:               # after the body: waiting for the client to leave has no time limit
                return await receive()
            deadline = deadline or time.monotonic() + wait
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                # answer 408 here, whoever is reading (FastAPI's own body parsing would turn an error into a 400),
                # and tell the route the client has gone, so that it stops and frees what it holds
                late = True
                await refuse(408, f"the body did not arrive within {wait:g} s")(scope, receive, send)
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self._message(received, at_least=True))
                complete = not message.get("more_body", False)
            return message

        async def guarded_send(message):
            if not late:               # after a 408, the route's answer to the made-up disconnect is dropped
                await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _message(self, size: int, at_least: bool = False) -> str:
        more = "over " if at_least else ""
        return f"the body is {more}{size:,} bytes; the limit is {self.limit:,} bytes ({self.limit / 2**20:g} MiB)"
