"""``/api/test-images``: a test image of a model's dataset, random (of one class) or by its index, from the local
cache (:class:`matnet.serve.models.TestImages`)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from matnet.data.datasets import check_name
from matnet.errors import MatnetError
from matnet.serve.answers import Answer
from matnet.serve.inputs import BadRequest
from matnet.serve.schemas import ERRORS, TestImage
from matnet.serve.state import Served, Shared

__all__ = ["router"]

router = APIRouter()


def _test_image(shared: Served, model: str | None, **where) -> Answer:
    """The test image ``where`` picks from ``model``'s dataset: 404 for no such image, 503 when the dataset is
    not in the local cache."""
    served = shared.pick(model)
    dataset = served.model.preprocessing.get("dataset") or "mnist"
    try:
        check_name(dataset)
    except MatnetError as err:    # the model file names no dataset there could be: not a matter of the cache
        raise BadRequest(422, f"{served.name}: {err}") from None
    try:
        return Answer(shared.test_images.pick(dataset, **where))
    except MatnetError as err:
        raise BadRequest(503, str(err)) from None
    except (IndexError, LookupError) as err:
        raise BadRequest(404, str(err.args[0])) from None


@router.get("/api/test-images/random", response_model=TestImage, responses=ERRORS, tags=["test images"])
def random_test_image(shared: Shared, model: str | None = None, label: int | None = Query(None, ge=0, le=9_999)):
    """A random test image of the model's dataset (``?label=7``: of that class), from the local cache."""
    return _test_image(shared, model, label=label)


@router.get("/api/test-images/{index}", response_model=TestImage, responses=ERRORS, tags=["test images"])
def test_image_at(index: int, shared: Shared, model: str | None = None):
    """Test image ``index`` of the model's dataset, with its true label."""
    return _test_image(shared, model, index=index)
