"""Fixtures of the export tests: a C compiler (or a clear skip), 1,000 real MNIST test images, the four networks.
Helpers are in export_support.py."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from export_support import PREPROCESSING, randomize_batchnorm
from matnet.data.prepare import model_inputs
from matnet.architectures import build_cnn, build_fastcnn, build_mlp, build_resnet

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def cc():
    """The C compiler: a skip that says what to install where there is none, a failure under CI=true."""
    found = shutil.which("cc")
    if found is None:
        message = "no C compiler (cc) on this machine: apt-get install gcc (CI installs it, see .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def images(mnist):
    """The first 1,000 MNIST test images (uint8, 28 x 28)."""
    return mnist.test_images[:1000]


@pytest.fixture(scope="session")
def mlp(mnist):
    """784-128-64-10 with dropout, trained one epoch on 10,000 images (a real, confident network)."""
    from matnet import Momentum

    model = build_mlp([784, 128, 64, 10], dropout=0.1, seed=1, preprocessing={**PREPROCESSING, "flatten": True})
    x = model_inputs(mnist.train_images[:10_000], model.input_shape)
    model.fit(x, mnist.train_labels[:10_000].astype(np.int64), epochs=1, optimizer=Momentum(0.1, 0.9), seed=1)
    return model


@pytest.fixture(scope="session")
def cnn():
    """The cnn preset's network (random weights, BatchNorm statistics drawn at random)."""
    return randomize_batchnorm(build_cnn(seed=2, preprocessing=PREPROCESSING), seed=2)


@pytest.fixture(scope="session")
def fastcnn():
    """The speedrun preset's network (random weights): a strided 5x5 convolution, biases, no BatchNorm."""
    return build_fastcnn(seed=4, preprocessing=PREPROCESSING)


@pytest.fixture(scope="session")
def resnet():
    """The resnet preset's network (random weights, BatchNorm statistics drawn at random)."""
    return randomize_batchnorm(build_resnet(seed=3, preprocessing=PREPROCESSING), seed=3)
