"""What the API answers, for the OpenAPI page (``/docs``, ``/openapi.json``): the routes return plain JSON
(:class:`matnet.serve.answers.Answer`), and these models only describe it. Also the refusals each route may give
(``ERRORS``) and the bodies FastAPI cannot infer: ``/api/predict``'s (``PREDICT_BODY``: JSON, an image or a form) and
``/api/number``'s (``NUMBER_BODY``: an image or a form)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from matnet.data.images.number import UNSURE
from matnet.serve.inputs import IMAGE_TYPES, MAX_BODY_BYTES, MAX_IMAGE_PIXELS

__all__ = ["Array", "LayerOutput", "Prediction", "Digit", "Number", "ModelInfo", "TestImage", "Health", "Problem",
           "ERRORS", "PREDICT_BODY", "NUMBER_BODY"]


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
    source: dict | None = Field(None, description="for an uploaded image: its width, height, format and marks "
                                                  "(how many digit-sized marks it holds)")
    warning: str | None = Field(None, description="for an uploaded image that holds several digit-sized marks "
                                                  "(a number): that it was read as one digit")
    layers: list[LayerOutput] | None = Field(None, description="with ?layers=true: every layer's output")
    attribution: Array | None = Field(None, description="with ?explain=true: gradient x input of the predicted "
                                                        "class, 28x28")


class Digit(BaseModel):
    box: dict = Field(description="where the digit lies in the image, in its pixels: {x, y, width, height}")
    label: str = Field(description="the predicted class's name", examples=["7"])
    class_index: int
    probabilities: list[float] = Field(description="one per class, in the order of classes; they add up to 1")
    input: Array = Field(description="the 28x28 image the model saw for this digit, after preprocessing")


class Number(BaseModel):
    model: str = Field(description="the model that answered")
    number: str = Field(description="the digits' labels, left to right", examples=["31570"])
    digits: list[Digit] = Field(description="each digit read, left to right")
    classes: list[str]
    warning: str | None = Field(None, description=f"the digits read with under {100 * UNSURE:.0f}% confidence, when "
                                                  f"there are any (overlapping or touching digits may be cut wrongly)")


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
    dead_units: dict | None = Field(None, description="the ReLU units that are 0 for every one of `images` training "
                                    "images: {images, dataset, units: {relu_layer: [unit, ...]}} (null: no such "
                                    "layer, or the dataset is not cached)")


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
UPLOADS = {**{kind: {"schema": BINARY} for kind in IMAGE_TYPES},
           "multipart/form-data": {"schema": {"type": "object", "properties": {"file": BINARY}, "required": ["file"]}}}
PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"anyOf": [PIXELS, {"type": "object", "properties": {"image": PIXELS},
                                                       "required": ["image"], "additionalProperties": False}]}},
    **UPLOADS}}}
NUMBER_BODY = {"requestBody": {"required": True, "content": UPLOADS}}
