"""The application's assembly (``matnet.serve.app``): what ``create_app`` refuses, its route table kept true, and
a router added the way the API's own are (``app.include_router``) reading the state they share."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

import matnet.serve.app
from matnet.serve import create_app, load_models
from matnet.serve.state import Served, Shared


def test_create_app_takes_no_model_or_models_with_unique_names(cnn_file):
    bare = TestClient(create_app([]), base_url="http://127.0.0.1")    # a server that only trains live
    assert bare.get("/api/models").json() == [] and bare.get("/api/health").json()["models"] == []
    answer = bare.get("/api/test-images/random")
    assert answer.status_code == 404 and "no model is served" in answer.json()["detail"]
    with pytest.raises(ValueError, match="unique"):
        create_app(load_models([cnn_file]) * 2)


def test_the_route_table_of_the_docstring_is_the_api(client):
    rows = re.findall(r"^\s+(GET|POST|PATCH|DELETE)\s+(/api/\S+)", matnet.serve.app.__doc__, re.M)
    drawn = {(method, re.sub(r"\{[^}]*\}", "{}", path)) for method, path in rows}
    schema = client.get("/openapi.json").json()["paths"]
    served = {(method.upper(), re.sub(r"\{[^}]*\}", "{}", path)) for path, operations in schema.items()
              for method in operations}
    assert drawn == served


def test_a_new_router_reads_the_state_the_routes_share(cnn_file):
    app = create_app(load_models([cnn_file]))
    extra = APIRouter()

    @extra.get("/api/extra")
    async def extra_route(shared: Shared):
        return {"default": shared.pick(None).name, "models": list(shared.by_name)}

    app.include_router(extra)
    assert isinstance(app.state.served, Served)
    answer = TestClient(app, base_url="http://127.0.0.1").get("/api/extra")
    assert answer.status_code == 200 and answer.json() == {"default": "little-cnn", "models": ["little-cnn"]}
    assert "shared" not in str(app.openapi()["paths"]["/api/extra"])     # the state is no parameter of the API
