"""What a request to ``matnet serve`` may send, checked before any numerical work is done.

An image for ``POST /api/predict`` comes in one of three ways:

    application/json       28 rows of 28 numbers in [0, 1], a light digit on black as in MNIST, either as the
                           body itself or as ``{"image": [[...], ...]}``; used as it is (no preprocessing)
    image/png, image/jpeg  a photo, scan or drawing of one digit, either polarity; made MNIST-like by
    (or image/webp)        ``matnet.data.images.to_mnist_counted``, as ``matnet predict`` does
    multipart/form-data    the same image as a form's file field (``curl -F file=@seven.png``)

``POST /api/number`` takes the same images and forms (not JSON), read whole by ``number_from_image``.

Limits (each refusal is a 4xx with a message, never a 500): the body is at most ``MAX_BODY_BYTES`` (5 MiB, 413),
an image at most ``MAX_IMAGE_PIXELS`` (16 megapixels, checked in the file's header before the pixels are decoded,
413); a body that is not JSON, JSON that is not 28x28 numbers, NaN or infinities, values outside [0, 1], a file
that is not a PNG, JPEG or WebP, and an image with no digit in it are 400, 415 or 422. Everything is read in
memory: nothing a request sends is written to disk.
"""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import orjson

from matnet.data.images import FIELD, ImageError, decode_gray, read_number, to_mnist_counted
from matnet.errors import MatnetError

__all__ = ["BadRequest", "MAX_BODY_BYTES", "BODY_WAIT_S", "MAX_IMAGE_PIXELS", "IMAGE_FORMATS", "IMAGE_TYPES",
           "pixels_from_json", "pixels_from_image", "number_from_image", "parse_json"]

MAX_BODY_BYTES = 5 * 2**20        # 5 MiB: a phone photo as a JPEG, with room to spare
BODY_WAIT_S = 30.0                # a body must have arrived this long after the route began to read it (else 408)
# The server's own pixel limit, passed to the decoder (whose default, MAX_PIXELS, is 40 megapixels for the command
# line): a few uploads are decoded at once (matnet.serve.memory), each 64 MB as float32 at 16 megapixels.
MAX_IMAGE_PIXELS = 16_000_000     # 16 megapixels (a 4000x4000 photo)
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")          # what Pillow is allowed to decode (no other decoder runs)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
_NUMBERS = {int, float}
_STATUS = {ImageError.TOO_LARGE: 413, ImageError.NOT_AN_IMAGE: 415, ImageError.UNREADABLE: 422}


class BadRequest(Exception):
    """A request the server refuses: ``status`` (400, 404, 413, 415, 422, ...), a message for the client, and any
    headers the answer needs (``Retry-After`` with a 503)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def parse_json(body: bytes):
    """The body as strict JSON (400 otherwise): no NaN or Infinity (which Python's json would accept), no number
    too large for a float, at most 1,024 levels of nesting. Parsed by orjson: a 28x28 array in about 30 us, where
    the standard library takes about 200 (most of a request's time)."""
    if not body:
        raise BadRequest(400, "the body is empty: send a JSON 28x28 array, or a PNG or JPEG image")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        hint = " (NaN and Infinity are not numbers JSON allows)" if re.search(rb"NaN|Infinity", body[:1 << 16]) else ""
        raise BadRequest(400, f"malformed JSON: {err}{hint}") from None


def _json_kind(value) -> str:
    """What a parsed JSON value is, in JSON's words: ``a JSON number``, ``JSON null``, ..."""
    if value is None:
        return "JSON null"
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return f"a JSON {kinds.get(type(value), type(value).__name__)}"


def pixels_from_json(data, side: int = FIELD) -> np.ndarray:
    """``[[...], ...]`` (``side`` rows of ``side`` numbers in [0, 1]) or ``{"image": that}`` -> float32
    (side, side). Booleans and strings are not numbers here; the first bad value is named by its row and column.

    The rows' types are checked a row at a time and the range over the whole array at once; a value-by-value walk
    runs only to name what is wrong (a few microseconds for a good image, not a few hundred)."""
    if isinstance(data, dict):
        if set(data) - {"image"} or "image" not in data:
            raise BadRequest(422, f"expected {{\"image\": [[...], ...]}} ({side} rows of {side} numbers in [0, 1]), "
                                  f"got an object with the keys {sorted(data)}")
        data = data["image"]
    if not isinstance(data, list) or len(data) != side:
        what = f"a list of {len(data)} rows" if isinstance(data, list) else _json_kind(data)
        raise BadRequest(422, f"expected {side} rows of {side} numbers in [0, 1], got {what}")
    for r, row in enumerate(data):
        if not isinstance(row, list) or len(row) != side:
            what = f"{len(row)} values" if isinstance(row, list) else _json_kind(row)
            raise BadRequest(422, f"row {r}: expected {side} numbers in [0, 1], got {what}")
        if not set(map(type, row)) <= _NUMBERS:      # exact types: bool, an int subclass, is refused
            c = next(c for c, value in enumerate(row) if type(value) not in _NUMBERS)
            raise BadRequest(422, f"pixel ({r}, {c}): expected a number in [0, 1], got {json.dumps(row[c])[:40]}")
    try:
        pixels = np.array(data, dtype=np.float64)
        inside = bool(((pixels >= 0) & (pixels <= 1)).all())
    except OverflowError:                             # an integer too large for a float
        inside = False
    if not inside:                                    # inf and 1e999 (which json reads as inf) land here too
        r, c, value = next((r, c, v) for r, row in enumerate(data) for c, v in enumerate(row) if not 0 <= v <= 1)
        shown = "infinity" if isinstance(value, float) and math.isinf(value) else str(value)[:40]
        raise BadRequest(422, f"pixel ({r}, {c}) = {shown}: values must lie in [0, 1] (0 black, 1 ink)")
    return pixels.astype(np.float32)


def _decoded(data: bytes, source: str) -> np.ndarray:
    """PNG, JPEG or WebP bytes -> (grayscale in [0, 1], ``{"width", "height", "format"}``), by
    ``matnet.data.images.decode_gray`` (as ``matnet predict`` decodes files), with the server's lower limit
    ``MAX_IMAGE_PIXELS`` and only ``IMAGE_FORMATS``' decoders; its ``ImageError`` becomes a status by its kind
    (``_STATUS``): too large 413, not an image 415, unreadable 422."""
    if not data:
        raise BadRequest(400, f"{source}: the upload is empty")
    try:
        return decode_gray(io.BytesIO(data), source, max_pixels=MAX_IMAGE_PIXELS, formats=IMAGE_FORMATS)
    except ImageError as err:
        raise BadRequest(_STATUS[err.kind], str(err)) from None


def _read(read, gray: np.ndarray, source: str):
    """``read(gray, source)``, a reader of digits (``to_mnist_counted``, ``read_number``), with an image it finds
    no digit in, or cannot handle, a 422 (the request's problem, not the server's)."""
    try:
        return read(gray, source)
    except MatnetError as err:
        raise BadRequest(422, str(err)) from None
    except Exception as err:  # noqa: BLE001 - an image the preprocessing cannot handle is the request's problem
        raise BadRequest(422, f"{source}: cannot find a digit in the image ({type(err).__name__}: {err})") from None


def pixels_from_image(data: bytes, source: str = "image") -> tuple[np.ndarray, dict]:
    """PNG, JPEG or WebP bytes -> (the 28x28 input the model sees, ``{"width", "height", "format", "marks"}``,
    ``marks`` the digit-sized marks the image holds: over one, it is likely a number, read as one digit).

    Decoded by ``_decoded`` (too large 413, not an image 415, unreadable 422); an image with no digit is 422 too."""
    gray, header = _decoded(data, source)
    field, header["marks"] = _read(to_mnist_counted, gray, source)
    return np.asarray(field, dtype=np.float32), header


def number_from_image(data: bytes, predict_proba, source: str = "image") -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """PNG, JPEG or WebP bytes of a written number -> its digits read by ``predict_proba``, left to right:
    ``matnet.data.images.read_number``'s (box, 28x28 field, probabilities), as ``matnet predict --multi`` reads
    them. Decoded and refused as ``pixels_from_image`` decodes and refuses."""
    gray, _ = _decoded(data, source)
    return _read(lambda page, name: read_number(page, predict_proba, name), gray, source)
