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
    POST /api/number                    a PNG/JPEG/WebP upload of a written number -> each digit (box, label,
                                        probabilities, input) left to right, as ``matnet predict --multi``

    Live training (:mod:`matnet.serve.routes.training`, one session at a time):
    POST   /api/train                   settings -> a paused session (201 {"id"})
    GET    /api/train/{id}              its step, epoch, whether it runs, the last loss and validation accuracy
    GET    /api/train/{id}/history      every step's loss, the validation accuracies
    GET    /api/train/{id}/weights      a Dense layer's W and b as they are now (the page's first-layer images)
    GET    /api/train/{id}/samples      ten fixed test digits and the network's current predictions
    POST   /api/train/{id}/step         one step, answered with its matrices (forward, backward, update)
    POST   /api/train/{id}/run          {"steps": N} in the background
    POST   /api/train/{id}/pause        stop at the next step boundary
    PATCH  /api/train/{id}              {"lr": x} from the next step on
    POST   /api/train/{id}/check        one gradient entry against central differences (float64)
    GET    /api/train/{id}/events       the status as server-sent events, twice a second, while it lives
    POST   /api/train/{id}/save         the session as a run folder in runs/ (201 {"path", summary})
    DELETE /api/train/{id}              end it

The limits are in :mod:`matnet.serve.inputs`; a request that breaks one gets a 4xx and ``{"detail": message}``.
Predictions take no lock: inference only reads a network (:mod:`matnet.serve.models`). Decoding images (a few
at once, see :mod:`matnet.serve.memory`) and running convolutional networks happens in the server's thread pool,
so the event loop stays free; a JSON array for an MLP (a fraction of a millisecond) is answered on the event loop
itself, which halves its latency.

The routes are in :mod:`matnet.serve.routes`, one router a concern, and share what they serve through
:mod:`matnet.serve.state`; the body's size limit is :mod:`matnet.serve.body_limit`, the refusals and JSON answers
:mod:`matnet.serve.answers`, the OpenAPI page's models :mod:`matnet.serve.schemas`.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.requests import ClientDisconnect

from matnet.errors import MatnetError
from matnet.serve import answers
from matnet.serve.answers import Answer
from matnet.serve.body_limit import BodyLimit, BodyTooLarge
from matnet.serve.guards import LOOPBACK_NAMES, RequestGuard
from matnet.serve.inputs import MAX_BODY_BYTES, MAX_IMAGE_PIXELS, BadRequest
from matnet.serve.memory import ImageGate
from matnet.serve.models import ServedModel, TestImages
from matnet.serve.routes import models as model_routes
from matnet.serve.routes import number, page, predict, training
from matnet.serve.routes import test_images as test_image_routes
from matnet.serve.routes.page import STATIC
from matnet.serve.state import Served

__all__ = ["create_app", "BodyLimit", "Answer", "STATIC"]


def create_app(models: list[ServedModel], *, test_images: TestImages | None = None,
               hosts: frozenset[str] | None = LOOPBACK_NAMES, gate: ImageGate | None = None) -> FastAPIOffline:
    """The application serving ``models`` (the first is the page's default), to requests whose ``Host`` names one
    of ``hosts`` (None: any; see :mod:`matnet.serve.guards`); ``gate`` bounds the images decoded at once
    (:mod:`matnet.serve.memory`)."""
    served = Served(models, test_images, gate)
    app = FastAPIOffline(
        title="matnet serve", version="1",
        description="Draw a digit and watch the matrices work. The page is at `/`; this is its JSON API. "
                    f"Bodies are limited to {MAX_BODY_BYTES // 2**20} MiB and images to "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels; every refusal is a 4xx with a `detail`.",
        static_url="/docs-static")
    app.state.served = served
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(RequestGuard, hosts=hosts)    # added last: it runs first
    app.add_exception_handler(BadRequest, answers.bad_request)
    app.add_exception_handler(RequestValidationError, answers.invalid)
    app.add_exception_handler(MatnetError, answers.model_failed)
    app.add_exception_handler(ClientDisconnect, answers.client_left)
    app.add_exception_handler(BodyTooLarge, answers.too_large)
    app.include_router(page.router)
    app.include_router(model_routes.router)
    app.include_router(test_image_routes.router)
    app.include_router(predict.router)
    app.include_router(number.router)
    app.include_router(training.router)
    return app
