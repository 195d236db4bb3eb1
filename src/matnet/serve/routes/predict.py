"""``POST /api/predict``: classify one digit, sent as a JSON 28x28 array or as an image (read by
:mod:`matnet.serve.uploads`), with every layer's output or gradient x input when asked."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from matnet.data.images import marks_warning
from matnet.serve.answers import Answer
from matnet.serve.inputs import BadRequest
from matnet.serve.layers import encode
from matnet.serve.schemas import ERRORS, PREDICT_BODY, Prediction
from matnet.serve.state import Shared
from matnet.serve.uploads import read_image

__all__ = ["router"]

router = APIRouter()


@router.post("/api/predict", response_model=Prediction, responses=ERRORS, openapi_extra=PREDICT_BODY,
             tags=["predict"])
async def predict(request: Request, shared: Shared, model: str | None = None, layers: bool = False,
                  explain: bool = False, encoding: Literal["list", "base64"] = "list"):
    """Classify one digit: a JSON 28x28 array of values in [0, 1] (used as it is), or a PNG, JPEG or WebP
    image, as the body or as the form field ``file`` (made MNIST-like first, as ``matnet predict`` does).

    ``?layers=true`` adds every layer's output; ``?explain=true`` adds gradient x input of the predicted class
    (for networks without BatchNorm, such as MLPs); ``?encoding=base64`` sends arrays as float32 bytes."""
    served = shared.pick(model)
    if explain and not served.explainable:
        raise BadRequest(422, f"{served.name} has BatchNorm layers: ?explain=true (gradient x input) is "
                              f"offered for networks without them, such as MLPs")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # A JSON array for an MLP is a fraction of a millisecond of work, less than the hop to a worker thread and
    # back: it is done right here. Images (decoding, preprocessing) and convolutional networks go to the
    # thread pool.
    inline = kind == "application/json" and served.cheap
    field, source = await read_image(request, kind, inline, shared.gate)
    options = {"layers": layers, "explain": explain, "encoding": encoding}
    if inline:
        result = served.predict(field, **options)
    else:
        result = await run_in_threadpool(lambda: served.predict(field, **options))
    if source is not None or layers:    # a JSON array comes back only when asked: it is what was sent
        result["input"] = encode(field, encoding)
    if source is not None:
        result["source"] = source
        if warning := marks_warning(source["marks"]):
            result["warning"] = f"{warning}: it is read here as one digit (matnet predict --multi reads a number)"
    return Answer(result)
