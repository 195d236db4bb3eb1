"""Shared fixtures: seeded generators, small IDX datasets made on the spot, and the real MNIST."""

from __future__ import annotations

import os

import numpy as np
import pytest

from matnet.data.idx import write_idx
from matnet.data.sources import PARTS

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_idx_dir(folder, n_train=60, n_test=20, shape=(28, 28), classes=10, seed=0, gz=True):
    """Four IDX files of random uint8 images whose class is readable from their mean brightness."""
    gen = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        images = gen.integers(0, 40, size=(n, *shape)).astype(np.uint8)
        images += (labels * (200 // classes)).astype(np.uint8)[:, None, None]
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    for part, stem in PARTS.items():
        write_idx(arrays[part], folder / (stem + (".gz" if gz else "")))
    return arrays


@pytest.fixture
def idx_dir(tmp_path):
    """A folder with a small 10-class dataset as the four standard IDX .gz files, and its arrays."""
    folder = tmp_path / "idx"
    return folder, make_idx_dir(folder)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty, private MATNET_CACHE."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MATNET_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (fetched into the user's cache on first use, as `make demo` does)."""
    from matnet.data import load_dataset

    return load_dataset("mnist", progress=False)


@pytest.fixture(scope="session")
def mnist_splits(mnist):
    from matnet.data import prepare

    return prepare(mnist)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the optional oracle (`make oracle`); in CI its absence is a failure, elsewhere a skip."""
    try:
        import torch as module
    except ImportError:
        if IN_CI:
            pytest.fail("PyTorch is missing in CI: `make test` installs it from the local CPU wheel")
        pytest.skip("PyTorch not installed (make oracle)")
    module.manual_seed(0)
    return module


def torch_twin(layers, torch):
    """The PyTorch network with the same layers and weights (Dense -> Linear: both keep W as (out, in))."""
    from matnet.nn import Dense, ReLU, Tanh

    modules = []
    for layer in layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                linear.weight.copy_(torch.tensor(layer.params["W"]))
                linear.bias.copy_(torch.tensor(layer.params["b"]))
            modules.append(linear)
        else:
            modules.append({ReLU: torch.nn.ReLU, Tanh: torch.nn.Tanh}[type(layer)]())
    return torch.nn.Sequential(*modules)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory, mnist):
    """The default configuration (the demo's) trained once on the real MNIST: (run folder, summary)."""
    from matnet.config import TrainConfig
    from matnet.run import train_run

    out = tmp_path_factory.mktemp("runs") / "default"
    return out, train_run(TrainConfig(out=str(out)), progress=False)
