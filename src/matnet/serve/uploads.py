"""Reading the image a ``POST /api/predict`` or ``POST /api/number`` sends, by its content type: a JSON array (read
at once), or an image as the body or as a multipart form's file (read and decoded inside one of the gate's slots, see
:mod:`matnet.serve.memory`, within ``BODY_WAIT_S`` seconds)."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from matnet.serve.inputs import (BODY_WAIT_S, IMAGE_TYPES, MAX_BODY_BYTES, BadRequest, number_from_image, parse_json,
                                 pixels_from_image, pixels_from_json)
from matnet.serve.memory import ImageGate

__all__ = ["read_image", "read_number_upload", "read_body", "form_file", "pixels_of", "BODY_WAIT_S"]

_UPLOADS = (*IMAGE_TYPES, "multipart/form-data", "application/octet-stream")   # an image, as the body or a form's



async def _one_chunk(body: bytes):
    yield body


async def form_file(request: Request, body: bytes) -> bytes:
    """The file of a multipart form (the field ``file``, or else the first file), parsed in memory: the parser's
    spooled files are given room for the whole body, so none is ever written to disk."""
    parser = MultiPartParser(request.headers, _one_chunk(body), max_files=1, max_fields=16,
                             max_part_size=MAX_BODY_BYTES)
    parser.spool_max_size = parser.max_file_size = MAX_BODY_BYTES + 1   # (the older Starlettes' name for it)
    try:
        form = await parser.parse()
    except MultiPartException as err:
        raise BadRequest(400, f"malformed multipart form: {err.message}") from None
    try:
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            raise BadRequest(422, "the form has no file: send the image as the field 'file' (curl -F file=@x.png)")
        chosen = next((f for key, f in form.multi_items() if key == "file" and isinstance(f, UploadFile)), files[0])
        return await chosen.read()
    finally:
        await form.close()


async def read_body(request: Request) -> bytes:
    """The whole body, within ``BODY_WAIT_S`` seconds (408 otherwise): an image request reads it while it holds
    one of the few decoding slots, which a client sending a byte a minute must not keep."""
    try:
        return await asyncio.wait_for(request.body(), BODY_WAIT_S)
    except TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {BODY_WAIT_S:g} s") from None


def pixels_of(kind: str, body: bytes) -> tuple[np.ndarray, dict | None]:
    """The 28x28 image a body of content type ``kind`` holds, and its source (width, height, format) if it is an
    image (see :mod:`matnet.serve.inputs`)."""
    if kind == "application/json" or kind.endswith("+json"):
        return pixels_from_json(parse_json(body)), None
    if kind in _UPLOADS:
        return pixels_from_image(body, "upload")
    shown = kind or "no Content-Type"
    raise BadRequest(415, f"{shown}: send application/json (a 28x28 array), image/png, image/jpeg or image/webp, "
                          f"or a multipart form with the field 'file'")


async def _in_slot(request: Request, kind: str, gate: ImageGate, work):
    """``work(kind, body)`` in the thread pool, with the body (an image, or a form's file) read and the work done
    inside one of the gate's slots, so that a burst of uploads holds at most that many bodies and decoded images."""
    async with gate.slot():
        body = await read_body(request)
        if kind == "multipart/form-data":
            body = await form_file(request, body)
        return await run_in_threadpool(work, kind, body)


async def read_image(request: Request, kind: str, inline: bool, gate: ImageGate) -> tuple[np.ndarray, dict | None]:
    """The image a request sends. JSON is read at once (and parsed right here when ``inline``, else in the thread
    pool); anything else (an image, a form, a type to refuse) is read and decoded in one of the gate's slots."""
    if kind == "application/json" or kind.endswith("+json"):
        body = await request.body()
        return pixels_of(kind, body) if inline else await run_in_threadpool(pixels_of, kind, body)
    return await _in_slot(request, kind, gate, pixels_of)


async def read_number_upload(request: Request, kind: str, gate: ImageGate, predict_proba) -> list[tuple]:
    """The digits of the number an uploaded image holds, read by ``predict_proba`` in one of the gate's slots
    (``matnet.serve.inputs.number_from_image``). A number is read from an image only: JSON, or any other type
    than an image or a form, is a 415."""
    if kind not in _UPLOADS:
        shown = kind or "no Content-Type"
        raise BadRequest(415, f"{shown}: a number is read from an image: send image/png, image/jpeg or image/webp, "
                              f"or a multipart form with the field 'file'")
    return await _in_slot(request, kind, gate, lambda _, body: number_from_image(body, predict_proba, "upload"))
