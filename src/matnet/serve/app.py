"""The web application of ``matnet serve``: the page (``/``), its static files, and the JSON API under ``/api/``,
documented by FastAPI's OpenAPI page (``/docs``, with Swagger UI's files served locally: it works offline too).

    GET  /api/health                    {"status": "ok", "models": [...]}
    GET  /api/models                    every model: name, kind, parameters, test accuracy, ...
    GET  /api/models/{name}             one model, with its layers (trace order, shapes, operation) and summary
    GET  /api/models/{name}/layers/{l}  one layer's parameters (W, b, ...) as arrays
    GET  /api/test-images/random        a random test image of the model's dataset (of one class: ?label=7)
    GET  /api/test-images/{index}       test image ``index``, with its true label
    POST /api/predict                   a PNG/JPEG/WebP upload or a JSON 28x28 array -> probabilities and label;
                                        ?layers=true adds every layer's output, ?explain=true gradient x input

The limits are in :mod:`matnet.serve.inputs`; a request that breaks one gets a 4xx and ``{"detail": message}``.
Predictions take no lock: inference only reads a network (:mod:`matnet.serve.models`). Decoding images (a few
at once, see :mod:`matnet.serve.memory`) and running convolutional networks happens in the server's thread pool,
so the event loop stays free; a JSON array for an MLP (a fraction of a millisecond) is answered on the event loop
itself, which halves its latency.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from matnet.errors import MatnetError
from matnet.serve.guards import LOOPBACK_NAMES, RequestGuard
from matnet.serve.inputs import (IMAGE_TYPES, MAX_BODY_BYTES, MAX_IMAGE_PIXELS, BadRequest, parse_json,
                                 pixels_from_image, pixels_from_json)
from matnet.serve.layers import encode
from matnet.serve.memory import ImageGate
from matnet.serve.training import Sessions
from matnet.serve.training import router as training_router
from matnet.serve.models import ServedModel, TestImages

__all__ = ["create_app", "BodyLimit", "Answer", "STATIC"]

STATIC = Path(__file__).parent / "static"
BODY_WAIT_S = 30.0     # an image's body must arrive within this (it is read inside a decoding slot)
LOG = logging.getLogger("uvicorn.error")     # the server's log: what uvicorn itself writes to stderr
PAGE_HEADERS = {  # the page loads nothing from anywhere but this server
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class Answer(JSONResponse):
    """A JSON response written by orjson (a tenth of the standard library's time; NumPy arrays and scalars too).
    FastAPI's own ``ORJSONResponse`` is this class, and deprecated (FastAPI 0.165 warns on every use)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _refuse(status: int, message: str, headers: dict | None = None):
    return Answer({"detail": message}, status_code=status, headers=headers)


# --- the request body's size ----------------------------------------------------------------------------------
class BodyTooLarge(Exception):
    pass


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
                await _refuse(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(length) > self.limit:
                await _refuse(413, self._message(int(length)))(scope, receive, send)
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


# --- what the API answers (for the OpenAPI page; the routes return plain JSON) --------------------------------
class Array(BaseModel):
    """An array: ``data`` as nested lists (``?encoding=list``), or ``base64`` of its float32 bytes, little-endian
    (``?encoding=base64``)."""
    shape: list[int]
    data: Any | None = None
    dtype: str | None = None
    base64: str | None = None


class LayerOutput(BaseModel):
    name: str
    output: Array


class Prediction(BaseModel):
    model: str = Field(description="the model that answered")
    label: str = Field(description="the predicted class's name", examples=["7"])
    class_index: int
    probabilities: list[float] = Field(description="one per class, in the order of classes; they add up to 1")
    classes: list[str]
    input: Array | None = Field(None, description="the 28x28 image the model saw, after preprocessing (for an "
                                                  "uploaded image, and with ?layers=true)")
    source: dict | None = Field(None, description="for an uploaded image: its width, height and format")
    layers: list[LayerOutput] | None = Field(None, description="with ?layers=true: every layer's output")
    attribution: Array | None = Field(None, description="with ?explain=true: gradient x input of the predicted "
                                                        "class, 28x28")


class ModelInfo(BaseModel):
    name: str
    kind: str
    path: str | None = Field(description="the model file's or run folder's name (never where it lies on the server)")
    input_shape: list[int]
    classes: list[str]
    parameters: int
    test_accuracy: float | None
    test_loss: float | None
    dataset: str | None
    explainable: bool = Field(description="whether ?explain=true (gradient x input) is offered")
    layers: list[dict] | None = None
    summary: str | None = None


class TestImage(BaseModel):
    dataset: str
    index: int
    label: str = Field(description="the true class")
    class_index: int
    image: list[list[float]] = Field(description="28 rows of 28 values in [0, 1]: POST it to /api/predict")


class Health(BaseModel):
    status: str
    models: list[str]


class Problem(BaseModel):
    detail: Any


ERRORS = {status: {"model": Problem, "description": what} for status, what in (
    (400, "a malformed body (not JSON, not multipart)"), (404, "no such model, layer or image"),
    (413, f"a body over {MAX_BODY_BYTES // 2**20} MiB or an image over {MAX_IMAGE_PIXELS // 1_000_000} megapixels"),
    (415, "a body that is neither JSON nor a PNG, JPEG or WebP image"),
    (422, "wrong shape, NaN or values outside [0, 1], an image without a digit, or a bad query parameter"),
    (408, "an image's body that did not arrive within 30 s"),
    (503, "the dataset's test images are not in the local cache, or the server is decoding as many images as it "
          "reads at once and none finished within 10 s (with Retry-After)"))}

PIXELS = {"type": "array", "minItems": 28, "maxItems": 28, "description": "28 rows of 28 values in [0, 1] (MNIST: "
          "a light digit on black), used as they are",
          "items": {"type": "array", "minItems": 28, "maxItems": 28,
                    "items": {"type": "number", "minimum": 0, "maximum": 1}}}
BINARY = {"type": "string", "format": "binary"}
PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"anyOf": [PIXELS, {"type": "object", "properties": {"image": PIXELS},
                                                       "required": ["image"], "additionalProperties": False}]}},
    **{kind: {"schema": BINARY} for kind in IMAGE_TYPES},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": BINARY}, "required": ["file"]}},
}}}


# --- reading the body -----------------------------------------------------------------------------------------
async def _one_chunk(body: bytes):
    yield body


async def _form_file(request: Request, body: bytes) -> bytes:
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


async def _read_body(request: Request) -> bytes:
    """The whole body, within ``BODY_WAIT_S`` seconds (408 otherwise): an image request reads it while it holds
    one of the few decoding slots, which a client sending a byte a minute must not keep."""
    try:
        return await asyncio.wait_for(request.body(), BODY_WAIT_S)
    except TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {BODY_WAIT_S:g} s") from None


def _read_field(kind: str, body: bytes) -> tuple[np.ndarray, dict | None]:
    """The 28x28 image a request sends, by its content type (see :mod:`matnet.serve.inputs`)."""
    if kind == "application/json" or kind.endswith("+json"):
        return pixels_from_json(parse_json(body)), None
    if kind in IMAGE_TYPES or kind in ("multipart/form-data", "application/octet-stream"):
        return pixels_from_image(body, "upload")
    shown = kind or "no Content-Type"
    raise BadRequest(415, f"{shown}: send application/json (a 28x28 array), image/png, image/jpeg or image/webp, "
                          f"or a multipart form with the field 'file'")


def _client_left(request: Request) -> Response:
    """A client that closed its connection before its body was complete (an aborted upload): one line in the log,
    not a traceback, and nothing to answer (no one is listening)."""
    where = f"{request.client.host}" if request.client else "a client"
    length = request.headers.get("content-length")
    promised = f" (Content-Length {length[:20]})" if length else ""
    LOG.warning("%s %s from %s: the client closed the connection before the body was complete%s; request dropped",
                request.method, request.url.path, where, promised)
    return Response(status_code=400)


def create_app(models: list[ServedModel], *, test_images: TestImages | None = None,
               hosts: frozenset[str] | None = LOOPBACK_NAMES, gate: ImageGate | None = None) -> FastAPIOffline:
    """The application serving ``models`` (the first is the page's default), to requests whose ``Host`` names one
    of ``hosts`` (None: any; see :mod:`matnet.serve.guards`); ``gate`` bounds the images decoded at once
    (:mod:`matnet.serve.memory`)."""
    if not models:
        raise ValueError("create_app needs at least one model")
    by_name = {served.name: served for served in models}
    if len(by_name) != len(models):
        raise ValueError("the models' names must be unique")
    test_images = test_images or TestImages()
    gate = gate or ImageGate()
    app = FastAPIOffline(
        title="matnet serve", version="1",
        description="Draw a digit and watch the matrices work. The page is at `/`; this is its JSON API. "
                    f"Bodies are limited to {MAX_BODY_BYTES // 2**20} MiB and images to "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels; every refusal is a 4xx with a `detail`.",
        static_url="/docs-static")
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(RequestGuard, hosts=hosts)    # added last: it runs first
    app.state.live = Sessions()                      # live training (matnet.serve.training)
    app.include_router(training_router)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, err: BadRequest):
        return _refuse(err.status, err.message, err.headers)

    @app.exception_handler(MatnetError)
    async def model_failed(request: Request, err: MatnetError):   # the model's fault (NaN weights), not the request's
        return _refuse(500, str(err))

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, err: ClientDisconnect):
        return _client_left(request)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, err: BodyTooLarge):
        return _refuse(413, str(err))

    def pick(name: str | None) -> ServedModel:
        if name is None:
            return models[0]
        if name not in by_name:
            raise BadRequest(404, f"no model named {name!r}; the models are {', '.join(map(repr, by_name))}")
        return by_name[name]

    # --- the page -----------------------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    # --- the API ------------------------------------------------------------------------------------------
    @app.get("/api/health", response_model=Health, tags=["server"])
    async def health():
        """Whether the server answers, and the names of its models."""
        return {"status": "ok", "models": list(by_name)}

    @app.get("/api/models", response_model=list[ModelInfo], tags=["models"])
    async def list_models():
        """Every model served, the page's default first."""
        return Answer([served.describe() for served in models])

    @app.get("/api/models/{name}", response_model=ModelInfo, responses=ERRORS, tags=["models"])
    async def model_info(name: str):
        """One model: architecture (its layers in the order they run, each with its input, output shape,
        parameter count and operation), parameter count, test accuracy, and the Keras-style summary."""
        return Answer(pick(name).describe(detail=True))

    @app.get("/api/models/{name}/layers/{layer:path}", responses=ERRORS, tags=["models"])   # a name may hold "/"
    async def layer_weights(name: str, layer: str, encoding: Literal["list", "base64"] = "list"):
        """One layer's parameters (a Dense layer's ``W`` (out, in) and ``b`` (out,), a Conv2D's ``W`` (F, C, k, k),
        ...) and buffers (BatchNorm's running statistics), with its row of the layer table."""
        served = pick(name)
        found = await run_in_threadpool(served.layer, layer, encoding)
        if found is None:
            raise BadRequest(404, f"{name} has no layer named {layer!r}")
        return Answer(found)

    def test_image(model: str | None, **where) -> Answer:
        served = pick(model)
        dataset = served.model.preprocessing.get("dataset") or "mnist"
        try:
            return Answer(test_images.pick(dataset, **where))
        except MatnetError as err:
            raise BadRequest(503, str(err)) from None
        except (IndexError, LookupError) as err:
            raise BadRequest(404, str(err.args[0])) from None

    @app.get("/api/test-images/random", response_model=TestImage, responses=ERRORS, tags=["test images"])
    def random_test_image(model: str | None = None, label: int | None = Query(None, ge=0, le=9_999)):
        """A random test image of the model's dataset (``?label=7``: of that class), from the local cache."""
        return test_image(model, label=label)

    @app.get("/api/test-images/{index}", response_model=TestImage, responses=ERRORS, tags=["test images"])
    def test_image_at(index: int, model: str | None = None):
        """Test image ``index`` of the model's dataset, with its true label."""
        return test_image(model, index=index)

    async def read_field(request: Request, kind: str, inline: bool) -> tuple[np.ndarray, dict | None]:
        """The image a request sends. JSON is read at once; anything else (an image, a form, a type to refuse)
        waits for one of the gate's slots and is read and decoded inside it, so that a burst of uploads holds at
        most that many bodies and decoded images."""
        if kind == "application/json" or kind.endswith("+json"):
            body = await request.body()
            return _read_field(kind, body) if inline else await run_in_threadpool(_read_field, kind, body)
        async with gate.slot():
            body = await _read_body(request)
            if kind == "multipart/form-data":
                body = await _form_file(request, body)
            return await run_in_threadpool(_read_field, kind, body)

    @app.post("/api/predict", response_model=Prediction, responses=ERRORS, openapi_extra=PREDICT_BODY,
              tags=["predict"])
    async def predict(request: Request, model: str | None = None, layers: bool = False, explain: bool = False,
                      encoding: Literal["list", "base64"] = "list"):
        """Classify one digit: a JSON 28x28 array of values in [0, 1] (used as it is), or a PNG, JPEG or WebP
        image, as the body or as the form field ``file`` (made MNIST-like first, as ``matnet predict`` does).

        ``?layers=true`` adds every layer's output; ``?explain=true`` adds gradient x input of the predicted class
        (for networks without BatchNorm, such as MLPs); ``?encoding=base64`` sends arrays as float32 bytes."""
        served = pick(model)
        if explain and not served.explainable:
            raise BadRequest(422, f"{served.name} has BatchNorm layers: ?explain=true (gradient x input) is "
                                  f"offered for networks without them, such as MLPs")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        # A JSON array for an MLP is a fraction of a millisecond of work, less than the hop to a worker thread and
        # back: it is done right here. Images (decoding, preprocessing) and convolutional networks go to the
        # thread pool.
        inline = kind == "application/json" and served.cheap
        field, source = await read_field(request, kind, inline)
        options = {"layers": layers, "explain": explain, "encoding": encoding}
        if inline:
            result = served.predict(field, **options)
        else:
            result = await run_in_threadpool(lambda: served.predict(field, **options))
        if source is not None or layers:    # a JSON array comes back only when asked: it is what was sent
            result["input"] = encode(field, encoding)
        if source is not None:
            result["source"] = source
        return Answer(result)

    return app
