"""The routes of ``matnet serve``, one :class:`fastapi.APIRouter` a concern, which
:func:`matnet.serve.app.create_app` includes: :mod:`~matnet.serve.routes.page` (the page and its static files),
:mod:`~matnet.serve.routes.models` (health, the models and their layers), :mod:`~matnet.serve.routes.test_images`,
:mod:`~matnet.serve.routes.predict` and :mod:`~matnet.serve.routes.training` (live training). Each reads what the
routes share (the models, the test images, the image gate, the live session) from :mod:`matnet.serve.state`, none
from a closure; a new router is one more ``app.include_router``."""
