"""The live-training API of ``matnet serve`` (see :mod:`matnet.serve.live` for what a session does):

    POST   /api/train                 settings (JSON) -> a paused session: 201 {"id"}; 409 while another one lives
    GET    /api/train/{id}            step, epoch, running, lr, the last loss and validation accuracy, settings
    GET    /api/train/{id}/history    every step's loss and the validation accuracies so far
    GET    /api/train/{id}/weights    a Dense layer's current W and b (?layer=0, ?rows=32, ?encoding=list|base64)
    GET    /api/train/{id}/samples    ten fixed test digits and the network's current predictions of them
    POST   /api/train/{id}/step       one step, answered with its matrices (?rows=16, ?encoding=list|base64)
    POST   /api/train/{id}/run        {"steps": N}: that many steps in the background (202)
    POST   /api/train/{id}/pause      stop at the next step boundary
    PATCH  /api/train/{id}            {"lr": x}: the learning rate from the next step on
    POST   /api/train/{id}/check      {"layer", "param", "index"}: one gradient entry against central differences
    GET    /api/train/{id}/events     the status as server-sent events, twice a second
    POST   /api/train/{id}/save       {"name"}: the session as a run folder runs/NAME (the first free name)
    DELETE /api/train/{id}            end the session

One session lives per server at a time; one that no request has touched for a minute (its page is gone) ends by
itself and no longer blocks a new one. Settings outside their ranges, and unknown fields, are refused with 422
naming them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from matnet.config import TrainConfig
from matnet.fileio import DEFAULT_FOLDER, free_path
from matnet.nn.init import INITIALIZERS
from matnet.nn.losses import LOSSES, OUTPUTS
from matnet.serve.layers import encode
from matnet.serve.live import MAX_BATCH, MAX_WEIGHT_ROWS
from matnet.serve.state import Shared

__all__ = ["router", "TrainSettings"]

router = APIRouter(prefix="/api/train", tags=["live training"])
EVENT_EVERY_S = 0.5    # seconds between two server-sent events of a session's status


class TrainSettings(BaseModel):
    """A live session's settings: an MLP on MNIST (the defaults: 784-32-10, ReLU, SGD at 0.1, batches of 32)."""

    model_config = ConfigDict(extra="forbid")

    layers: list[int] = Field(default_factory=lambda: [784, 32, 10], min_length=2, max_length=6,
                              description="layer sizes, 784 first and 10 last (e.g. [784, 128, 64, 10])")
    activation: Literal["relu", "leaky_relu", "sigmoid", "tanh"] = "relu"
    init: Literal[("auto", *INITIALIZERS)] = Field("auto", description="the weights' initialiser (normal: N(0, 1), "
                                                                         "Nielsen's)")
    loss: Literal[tuple(LOSSES)] = "cross-entropy"
    output: Literal[OUTPUTS] = Field("softmax", description="the last layer's activation (sigmoid or linear under "
                                                            "mse only)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False, description="cross-entropy's")
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    lr: float = Field(0.1, gt=0, allow_inf_nan=False, description="the learning rate")
    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    epochs: int = Field(5, ge=1, le=100)
    schedule: Literal["constant", "cosine"] = "constant"
    weight_decay: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    subset: int = Field(0, ge=0, le=60_000, description="train on the first N images (0: all)")

    def config(self) -> TrainConfig:
        """The run's config: no dropout and no other writers' digits, so each step's X is the batch as it is."""
        return TrainConfig(model="mlp", dropout=0.0, writers=0.0, val_size=10_000, **self.model_dump())


class RunSteps(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(ge=1, le=1_000_000)


class NewRate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lr: float = Field(gt=0, allow_inf_nan=False)


class CheckEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layer: int = Field(ge=0, description="the Dense layer, counted from 0 in order")
    param: Literal["W", "b"]
    index: list[int] = Field(min_length=1, max_length=2)


def _exact(array, encoding: str) -> dict:
    """An array as JSON: ``{"shape", "data"}`` with every float32 value exactly (so that a script can check
    ``W_new == W - lr * dW`` to float32 precision), or ``encode``'s base64."""
    a = np.asarray(array)
    if encoding == "base64":
        return encode(a, "base64")
    return {"shape": list(a.shape), "data": a.tolist()}


@router.post("", status_code=201, summary="Start a paused training session")
async def start(shared: Shared, settings: TrainSettings | None = None) -> dict:
    """An MLP on the cached MNIST, paused before its first step: ``{"id"}``. 409 while another session lives,
    503 when MNIST is not in the local cache (``matnet data fetch mnist``)."""
    session = await run_in_threadpool(shared.live.start, (settings or TrainSettings()).config())
    return {"id": session.id, **session.status()}


@router.get("/{session_id}", summary="A session's position and latest figures")
def status(shared: Shared, session_id: str) -> dict:
    return shared.live.get(session_id).status()


@router.get("/{session_id}/history", summary="Every step's loss and the validation accuracies so far")
def history(shared: Shared, session_id: str, since: int = Query(0, ge=0)) -> dict:
    """``loss``: ``[step, loss]`` pairs after step ``since``, at most 5,000 (more new steps: every k-th of them, the
    last always); ``val_accuracy``: ``[step, accuracy]`` pairs (the first 500 validation images)."""
    session = shared.live.get(session_id)
    session.touch()
    return {"step": session.steps, "loss": session.losses.points(since),
            "val_accuracy": [list(p) for p in session.accuracy]}


@router.get("/{session_id}/weights", summary="A Dense layer's weights as they are now")
async def weights(shared: Shared, session_id: str, layer: int = Query(0, ge=0, description="the Dense layer, from 0"),
                  rows: int = Query(32, ge=1, le=MAX_WEIGHT_ROWS),
                  encoding: Literal["list", "base64"] = "list") -> dict:
    """``W`` (its first ``rows`` rows: one a unit, its incoming weights) and ``b`` of Dense layer ``layer`` as the
    training has them now, with ``shape`` (the whole W's) and the ``step`` it was read at. Read while training runs:
    nothing waits."""
    session = shared.live.get(session_id)
    found = await run_in_threadpool(session.weights, layer, rows)
    return {**found, "W": _exact(found["W"], encoding), "b": _exact(found["b"], encoding)}


@router.get("/{session_id}/samples", summary="Ten fixed test digits and the current predictions")
async def samples(shared: Shared, session_id: str, encoding: Literal["list", "base64"] = "list") -> dict:
    """The first test image of each class (``index``, ``label``, ``images`` (10, 784) in [0, 1]) and what the
    network predicts for them at ``step``: ``predicted`` and ``probabilities`` (10, 10). An evaluation-mode forward,
    which only reads the network: training goes on undisturbed."""
    session = shared.live.get(session_id)
    found = await run_in_threadpool(session.samples)
    return {**found, "images": _exact(found["images"], encoding),
            "probabilities": _exact(found["probabilities"], encoding)}


@router.post("/{session_id}/step", summary="Take one step and see its matrices")
async def step(shared: Shared, session_id: str, rows: int = Query(16, ge=1, le=MAX_BATCH),
               encoding: Literal["list", "base64"] = "list") -> dict:
    """One training step, answered with what it computed: ``step``, ``loss``, ``batch`` (the indices of the
    training images used), ``x`` and ``y`` (its first ``rows`` rows), and ``layers``, one entry per Dense layer in
    order with ``W`` (out x in, before the update), ``b``, ``Z``, ``A``, ``dZ``, ``dW``, ``db``, ``W_new`` and
    ``b_new`` (after it). 409 while the session runs."""
    session = shared.live.get(session_id)
    view = await run_in_threadpool(session.step, rows=rows)
    arrays = ("x", "y")
    out = {key: (_exact(value, encoding) if key in arrays else value) for key, value in view.items()}
    out["batch"] = [int(i) for i in view["batch"]]
    out["layers"] = [{key: (value if isinstance(value, str) else _exact(value, encoding))
                      for key, value in layer.items()} for layer in view["layers"]]
    return out


@router.post("/{session_id}/run", status_code=202, summary="Run steps in the background")
def run(shared: Shared, session_id: str, body: RunSteps) -> dict:
    session = shared.live.get(session_id)
    session.run(body.steps)
    return session.status()


@router.post("/{session_id}/pause", summary="Stop at the next step boundary")
def pause(shared: Shared, session_id: str) -> dict:
    session = shared.live.get(session_id)
    session.pause()
    return session.status()


@router.patch("/{session_id}", summary="Change the learning rate from the next step on")
def change(shared: Shared, session_id: str, body: NewRate) -> dict:
    session = shared.live.get(session_id)
    session.set_lr(body.lr)
    return session.status()


@router.post("/{session_id}/check", summary="Check one gradient entry against central differences")
async def check(shared: Shared, session_id: str, body: CheckEntry) -> dict:
    """Of the last step taken with ``/step``: ``numeric`` (central differences of the loss in float64 on that
    step's batch), ``analytic`` (the backward pass in float64) and ``relative_error``; ``step_analytic`` is the
    float32 value the step itself used."""
    session = shared.live.get(session_id)
    return await run_in_threadpool(session.check, body.layer, body.param, body.index)


@router.get("/{session_id}/events", summary="The status as server-sent events",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(shared: Shared, session_id: str, seconds: float = Query(60, gt=0, le=600)) -> StreamingResponse:
    """``data: {status}`` (the JSON of ``GET /api/train/{id}``) every half second for ``seconds`` (then the stream
    ends; a page opens it again), or until the session stops; each event counts as the page being there."""
    session = shared.live.get(session_id)

    async def stream():
        ends = asyncio.get_running_loop().time() + seconds
        while True:
            status = session.status()
            yield b"data: " + orjson.dumps(status) + b"\n\n"
            alive = session._thread.is_alive()
            if not alive or asyncio.get_running_loop().time() >= ends:
                return
            await asyncio.sleep(EVENT_EVERY_S)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


class SaveAs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("live", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                      description="the run folder's name in runs/ (the first free one: live, live-2, ...)")


@router.post("/{session_id}/save", status_code=201, summary="Save the session as a run folder")
async def save(shared: Shared, session_id: str, body: SaveAs | None = None) -> dict:
    """Write ``runs/NAME`` in the server's folder (never over anything: the first free name), as ``matnet train``
    would have: the settings, the epochs' metrics, the model, the test predictions, the summary and the report.
    409 while the session runs (pause it first)."""
    session = shared.live.get(session_id)
    path = free_path(Path(DEFAULT_FOLDER), (body or SaveAs()).name)
    summary = await run_in_threadpool(session.save, path)
    return {"path": str(path), **summary}


@router.delete("/{session_id}", status_code=204, summary="End the session")
async def end(shared: Shared, session_id: str) -> Response:
    await run_in_threadpool(shared.live.end, session_id)
    return Response(status_code=204)
