"""``/api/health`` and ``/api/models``: the models served, one model with its layers, and one layer's parameters."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from matnet.serve.answers import Answer
from matnet.serve.inputs import BadRequest
from matnet.serve.schemas import ERRORS, Health, ModelInfo
from matnet.serve.state import Shared

__all__ = ["router"]

router = APIRouter()


@router.get("/api/health", response_model=Health, tags=["server"])
async def health(shared: Shared):
    """Whether the server answers, and the names of its models."""
    return {"status": "ok", "models": list(shared.by_name)}


@router.get("/api/models", response_model=list[ModelInfo], tags=["models"])
async def list_models(shared: Shared):
    """Every model served, the page's default first."""
    return Answer([served.describe() for served in shared.models])


@router.get("/api/models/{name}", response_model=ModelInfo, responses=ERRORS, tags=["models"])
async def model_info(name: str, shared: Shared):
    """One model: architecture (its layers in the order they run, each with its input, output shape,
    parameter count and operation), parameter count, test accuracy, and the Keras-style summary."""
    return Answer(await run_in_threadpool(shared.pick(name).describe, True))   # dead units: measured once


@router.get("/api/models/{name}/layers/{layer:path}", responses=ERRORS, tags=["models"])   # a name may hold "/"
async def layer_weights(name: str, layer: str, shared: Shared, encoding: Literal["list", "base64"] = "list"):
    """One layer's parameters (a Dense layer's ``W`` (out, in) and ``b`` (out,), a Conv2D's ``W`` (F, C, k, k),
    ...) and buffers (BatchNorm's running statistics), with its row of the layer table."""
    served = shared.pick(name)
    found = await run_in_threadpool(served.layer, layer, encoding)
    if found is None:
        raise BadRequest(404, f"{name} has no layer named {layer!r}")
    return Answer(found)
