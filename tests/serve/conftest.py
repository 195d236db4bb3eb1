"""Fixtures of the serve tests: small models (a trained MLP run, an untrained CNN file) and the app serving them."""

from __future__ import annotations

import pytest

from matnet.config import TrainConfig
from matnet.architectures import build_cnn
from matnet.run import train_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist):
    """An MLP run folder (one epoch on 2,000 images: the weights matter little here), with its summary.json."""
    out = tmp_path_factory.mktemp("serve") / "tiny"
    train_run(TrainConfig(subset=2000, val_size=1000, epochs=1, out=str(out)), progress=False)
    return out


@pytest.fixture(scope="session")
def cnn_file(tmp_path_factory):
    """A small untrained CNN (BatchNorm, so no gradient x input) saved as a model file."""
    model = build_cnn(filters=(4, 8), dense=16, seed=1, preprocessing={"dataset": "mnist"})
    stem = tmp_path_factory.mktemp("serve") / "little-cnn"
    model.save(stem)
    return stem.with_suffix(".npz")


@pytest.fixture(scope="session")
def app(tiny_run, cnn_file):
    from matnet.serve import create_app, load_models
    from matnet.serve.guards import LOOPBACK_NAMES

    # "testserver": the Host that schemathesis's ASGI client sends (TestClient here is told to send 127.0.0.1)
    return create_app(load_models([tiny_run, cnn_file]), hosts=LOOPBACK_NAMES | {"testserver"})


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:   # a Host the app answers (loopback)
        yield test_client
