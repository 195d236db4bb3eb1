"""How the server answers: JSON written by orjson (:class:`Answer`), and the refusals that exceptions become, each a
status and ``{"detail": message}`` (the handlers :func:`matnet.serve.app.create_app` registers)."""

from __future__ import annotations

import logging
import math

import orjson
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from matnet.errors import MatnetError
from matnet.serve.inputs import BadRequest

__all__ = ["Answer", "refuse", "bad_request", "invalid", "model_failed", "client_left", "too_large"]

LOG = logging.getLogger("uvicorn.error")     # the server's log: what uvicorn itself writes to stderr


class Answer(JSONResponse):
    """A JSON response written by orjson (a tenth of the standard library's time; NumPy arrays and scalars too).
    FastAPI's own ``ORJSONResponse`` is this class, and deprecated (FastAPI 0.165 warns on every use)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def refuse(status: int, message: str, headers: dict | None = None) -> Answer:
    """A refusal: ``status`` and ``{"detail": message}``."""
    return Answer({"detail": message}, status_code=status, headers=headers)


async def bad_request(request: Request, err: BadRequest) -> Answer:
    """A request that breaks a limit or sends what cannot be read: the status it names (4xx, or 503)."""
    return refuse(err.status, err.message, err.headers)


async def model_failed(request: Request, err: MatnetError) -> Answer:
    """The model's fault (NaN weights), not the request's: 500."""
    return refuse(500, str(err))


def _finite(value):
    """``value`` with every NaN or infinite float written as a string: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


async def invalid(request: Request, err: RequestValidationError) -> Answer:
    """FastAPI's 422 for a body or parameter outside its schema, the same list of errors, with the offending input
    JSON can carry (a body of ``{"lr": NaN}`` made FastAPI's own answer fail with a 500)."""
    return Answer({"detail": _finite(jsonable_encoder(err.errors()))}, status_code=422)


async def too_large(request: Request, err: Exception) -> Answer:
    """A chunked body that grew past the limit (:class:`matnet.serve.body_limit.BodyTooLarge`): 413."""
    return refuse(413, str(err))


async def client_left(request: Request, err: ClientDisconnect) -> Response:
    """A client that closed its connection before its body was complete (an aborted upload): one line in the log,
    not a traceback, and nothing to answer (no one is listening)."""
    where = f"{request.client.host}" if request.client else "a client"
    length = request.headers.get("content-length")
    promised = f" (Content-Length {length[:20]})" if length else ""
    LOG.warning("%s %s from %s: the client closed the connection before the body was complete%s; request dropped",
                request.method, request.url.path, where, promised)
    return Response(status_code=400)
