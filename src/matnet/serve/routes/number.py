"""``POST /api/number``: read an uploaded image of a written number digit by digit, as ``matnet predict --multi``
does (``matnet.data.images.read_number``): what the page offers when ``/api/predict`` warns that an upload holds
several digit-sized marks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from matnet.serve.answers import Answer
from matnet.serve.schemas import ERRORS, NUMBER_BODY, Number
from matnet.serve.state import Shared
from matnet.serve.uploads import read_number_upload

__all__ = ["router"]

router = APIRouter()


@router.post("/api/number", response_model=Number, responses=ERRORS, openapi_extra=NUMBER_BODY, tags=["number"])
async def number(request: Request, shared: Shared, model: str | None = None,
                 encoding: Literal["list", "base64"] = "list"):
    """Read a written number: a PNG, JPEG or WebP image, as the body or as the form field ``file``, cut into its
    digits left to right, each made MNIST-like and classified (JSON arrays are one digit: ``/api/predict``).

    Each digit comes with its box in the image and the 28x28 input the model saw; ``warning`` names the digits
    read with little confidence (overlapping or touching digits may be cut wrongly)."""
    served = shared.pick(model)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    read = await read_number_upload(request, kind, shared.gate, served.model.predict_proba)
    return Answer(served.number(read, encoding))
