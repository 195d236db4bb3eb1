"""``matnet serve``: a local page to draw a digit and watch the network's matrices work, and a JSON API.

:mod:`matnet.serve.connection` bounds a request's header section in bytes and time, :mod:`matnet.serve.guards`
checks a request's ``Host`` and framing, :mod:`matnet.serve.body_limit` its size, :mod:`matnet.serve.inputs` what
it sends and :mod:`matnet.serve.uploads` reads it; :mod:`matnet.serve.layers` turns a network and its outputs into
what the page draws, :mod:`matnet.serve.models` holds the served models, :mod:`matnet.serve.memory` bounds the
images decoded at once. :mod:`matnet.serve.app` is the FastAPI application (its docstring has the route table): the
routes are in :mod:`matnet.serve.routes`, one router a concern, sharing what :mod:`matnet.serve.state` holds,
answering as :mod:`matnet.serve.answers` writes and as :mod:`matnet.serve.schemas` describes. The page itself is
plain HTML, CSS and JavaScript in ``static/`` (no build step, nothing loaded from elsewhere; every text from a model
file is set as text).
"""

from matnet.serve.app import create_app
from matnet.serve.inputs import MAX_BODY_BYTES, MAX_IMAGE_PIXELS, BadRequest
from matnet.serve.models import ServedModel, TestImages, load_models

__all__ = ["create_app", "load_models", "ServedModel", "TestImages", "BadRequest", "MAX_BODY_BYTES",
           "MAX_IMAGE_PIXELS"]
