"""What the routes share, kept in one place: the served models (the first is the page's default), the test images
and the image gate, as one :class:`Served` on ``app.state.served``, which a route asks for as a parameter typed
:data:`Shared` (a FastAPI dependency: it adds nothing to the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matnet.serve.inputs import BadRequest
from matnet.serve.live import Sessions
from matnet.serve.memory import ImageGate
from matnet.serve.models import ServedModel, TestImages

__all__ = ["Served", "served", "Shared"]


class Served:
    """The models a server serves (their names unique, the first the default; none at all for a server that only
    trains live), the test images it picks from, the gate bounding the images it decodes at once
    (:mod:`matnet.serve.memory`), and its live-training session."""

    def __init__(self, models: list[ServedModel], test_images: TestImages | None = None,
                 gate: ImageGate | None = None):
        self.by_name = {model.name: model for model in models}
        if len(self.by_name) != len(models):
            raise ValueError("the models' names must be unique")
        self.models = list(models)
        self.test_images = test_images or TestImages()
        self.gate = gate or ImageGate()
        self.live = Sessions()      # live training (matnet.serve.live, routes.training)

    def pick(self, name: str | None) -> ServedModel:
        """The model named ``name``, the default for None; 404 for a name not served."""
        if not self.models:
            raise BadRequest(404, "no model is served: this server was started without one (it trains live: see "
                                  "/api/train); give matnet serve a run folder or model file to draw on it")
        if name is None:
            return self.models[0]
        if name not in self.by_name:
            raise BadRequest(404, f"no model named {name!r}; the models are {', '.join(map(repr, self.by_name))}")
        return self.by_name[name]


async def served(request: Request) -> Served:
    """The :class:`Served` of the app answering ``request`` (async: FastAPI runs it on the event loop, without a
    hop to the thread pool)."""
    return request.app.state.served


Shared = Annotated[Served, Depends(served)]
