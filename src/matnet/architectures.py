"""The four architectures ``matnet train --model`` offers, as builders of a :class:`matnet.model.Sequential`.

Each builder writes its layers as specs first, so that :func:`matnet.nn.sizing.build_within` counts their
parameters with each layer type's own sizing rule and refuses a network over the limit (``params_limit``:
``max_params=``, ``$MATNET_MAX_PARAMS`` or ``MAX_PARAMS``) before anything is made; the same limit holds when a
model file is read, so ``matnet train`` never trains what matnet would not load.

Each ends in a Dense layer of one unit per class, then the ``output`` activation the ``loss`` is taken after
(``matnet.nn.losses.check_output``): under cross-entropy the Dense layer's logits themselves (the loss applies the
softmax); under MSE a Softmax or Sigmoid layer, or nothing (``linear``).
"""

from __future__ import annotations

from matnet.model import Sequential
from matnet.nn.activations import ACTIVATIONS, ReLU, Sigmoid, Softmax
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.losses import check_output
from matnet.nn.pool import GlobalAvgPool, MaxPool2D
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual
from matnet.nn.sizing import build_within, check_params

__all__ = ["ARCHITECTURES", "build_mlp", "build_cnn", "build_fastcnn", "build_resnet"]

ARCHITECTURES = ("mlp", "cnn", "fastcnn", "resnet")


def _within(what: str, max_params: int | None):
    """The ``check`` of ``build_within``: ``what`` may make no more parameters than ``params_limit(max_params)``."""
    return lambda n, or_more: check_params(n, what, max_params, or_more=or_more)


def _sequential(specs, shape, what, max_params, *, output, loss, **kwargs) -> Sequential:
    """The network of ``specs`` and the ``output`` activation for ``loss`` (a ValueError if it does not suit it),
    built for inputs of ``shape`` once ``build_within`` has counted its parameters (``what`` names it in the
    refusal)."""
    check_output(output, loss)
    head = {"sigmoid": [Sigmoid.spec_of()], "softmax": [Softmax.spec_of()] if loss != "cross-entropy" else []}
    layers = build_within(specs + head.get(output, []), shape, _within(what, max_params))
    return Sequential(layers, loss=loss, **kwargs)


def build_mlp(sizes: list[int], activation: str = "relu", *, dropout: float = 0.0, init: str | None = None,
              seed: int = 0, max_params: int | None = None, output: str = "softmax", loss: str = "cross-entropy",
              **kwargs) -> Sequential:
    """``sizes = [784, 128, 64, 10]`` -> Dense 784->128, act, [Dropout], Dense 128->64, act, [Dropout], Dense 64->10,
    then the ``output`` activation for the ``loss`` (the module docstring; by default none: the softmax is the
    loss's). He initialisation for ReLU-like activations, Xavier for tanh and sigmoid, unless ``init`` names
    one of ``matnet.nn.init.INITIALIZERS``. More parameters than the limit (``params_limit(max_params)``) is a
    MatnetError, before anything is allocated.
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"layer sizes must be two or more positive numbers, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    init = init or ("xavier_normal" if activation in ("tanh", "sigmoid") else "he_normal")
    specs = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        specs.append(Dense.spec_of(int(n_in), int(n_out), init=init))
        if i < len(sizes) - 2:
            specs.append(ACTIVATIONS[activation].spec_of())
            if dropout:
                specs.append(Dropout.spec_of(dropout))
    return _sequential(specs, (int(sizes[0]),), f"layers {','.join(map(str, sizes))}", max_params, output=output,
                       loss=loss, seed=seed, **kwargs)


def build_cnn(image_shape=(28, 28), num_classes: int = 10, *, filters=(32, 64), dense: int = 128,
              dropout: float = 0.25, seed: int = 0, max_params: int | None = None, output: str = "softmax",
              loss: str = "cross-entropy", **kwargs) -> Sequential:
    """One convolution block per entry of ``filters``, then a dense head; the default, ``filters=(32, 64)``:
    [Conv 3x3 (32) - BatchNorm - MaxPool 2 - ReLU] -> [Conv 3x3 (64) - BatchNorm - MaxPool 2 - ReLU]
    -> Flatten -> Dense 128 - ReLU - Dropout -> Dense (classes). Each block halves the height and width.

    Two choices that change no number but save work: the convolutions have no bias (the BatchNorm after each
    subtracts every channel's mean, so a bias would change nothing: its gradient is exactly zero), and the ReLU
    comes after the pooling, where it has a quarter of the values (``max`` and ``relu`` commute: the largest of
    the rectified values is the rectified largest value, and the gradient reaches the same input). The parameters
    are counted (and held to ``params_limit(max_params)``) before anything is allocated."""
    h, w = image_shape
    if not filters or min(filters) < 1:
        raise ValueError(f"filters must be one or more positive channel counts, got {list(filters)}")
    if min(h, w) < 2 ** len(filters):
        raise ValueError(f"{len(filters)} blocks halve {h}x{w} images to nothing; use at most "
                         f"{int(min(h, w)).bit_length() - 1}")
    specs, channels = [], 1
    for out_channels in filters:
        specs += [Conv2D.spec_of(channels, out_channels, 3, padding=1, bias=False), BatchNorm.spec_of(out_channels),
                  MaxPool2D.spec_of(2), ReLU.spec_of()]
        channels, h, w = out_channels, h // 2, w // 2
    specs += [Flatten.spec_of(), Dense.spec_of(channels * h * w, dense), ReLU.spec_of()]
    if dropout:
        specs.append(Dropout.spec_of(dropout))
    specs.append(Dense.spec_of(dense, num_classes))
    what = f"the cnn (filters {','.join(map(str, filters))}, dense {dense})"
    return _sequential(specs, (1, *image_shape), what, max_params, output=output, loss=loss,
                       input_shape=(1, *image_shape), seed=seed, **kwargs)


def build_fastcnn(image_shape=(28, 28), num_classes: int = 10, *, filters=(16, 32), dense: int = 64,
                  dropout: float = 0.0, seed: int = 0, max_params: int | None = None, output: str = "softmax",
                  loss: str = "cross-entropy", **kwargs) -> Sequential:
    """A CNN shaped for what NumPy on a CPU does fast (the ``speedrun`` preset), ``filters=(f1, f2)``:
    [Conv 5x5 stride 2, padding 2 (f1) - ReLU] -> [Conv 3x3 without padding (f2) - MaxPool 2 - ReLU] -> Flatten
    -> Dense (dense) - ReLU [- Dropout] -> Dense (classes); ``dense=0`` leaves out the hidden dense layer.

    Where the image is large the work is small: the first convolution reads 5x5 windows of one channel (25 columns
    of im2col) and its stride of 2 quarters the positions (28x28 -> 14x14) that every later layer sees. The one
    wide convolution (f1 -> f2, 9 f1 columns) reads only whole windows, 14x14 -> 12x12 (MNIST's digits sit in the
    middle 20x20, so the border it leaves out is blank): 27% fewer positions than with padding and no padded copy,
    which made an epoch about a third shorter at the same accuracy. The pooling before the ReLU halves it again
    (as in ``build_cnn``). No BatchNorm: at this depth Adam with a warm-up trains it without, and its passes over
    the largest activations cost more than they buy. Parameters are counted first (``params_limit``)."""
    h, w = image_shape
    if len(filters) != 2 or min(filters) < 1:
        raise ValueError(f"filters must be two positive channel counts (one per convolution), got {list(filters)}")
    if min(h, w) < 7:
        raise ValueError(f"the fastcnn needs images of at least 7x7, got {h}x{w}")
    f1, f2 = (int(f) for f in filters)
    h, w = (h + 1) // 2 - 2, (w + 1) // 2 - 2         # 5x5 stride 2 with padding 2, then 3x3 without padding
    specs = [Conv2D.spec_of(1, f1, 5, stride=2, padding=2), ReLU.spec_of(),
             Conv2D.spec_of(f1, f2, 3), MaxPool2D.spec_of(2), ReLU.spec_of(), Flatten.spec_of()]
    width = f2 * (h // 2) * (w // 2)
    if dense:
        specs += [Dense.spec_of(width, dense), ReLU.spec_of()]
        if dropout:
            specs.append(Dropout.spec_of(dropout))
        width = dense
    specs.append(Dense.spec_of(width, num_classes))
    what = f"the fastcnn (filters {f1},{f2}, dense {dense})"
    return _sequential(specs, (1, *image_shape), what, max_params, output=output, loss=loss,
                       input_shape=(1, *image_shape), seed=seed, **kwargs)


def build_resnet(image_shape=(28, 28), num_classes: int = 10, *, dropout: float = 0.0, seed: int = 0,
                 max_params: int | None = None, output: str = "softmax", loss: str = "cross-entropy",
                 **kwargs) -> Sequential:
    """A small residual network: a stem [Conv 3x3 (32) - BatchNorm - ReLU - MaxPool 2], then two residual blocks
    (the second halves the resolution and doubles the channels, its shortcut a 1x1 projection), then global
    average pooling and a dense layer. Every convolution is followed by BatchNorm, so has no bias (see
    ``build_cnn``). The parameters, the projection's included, are counted (and held to
    ``params_limit(max_params)``) before anything is allocated."""
    h, w = image_shape

    def conv(c_in, c_out, stride=1):
        return Conv2D.spec_of(c_in, c_out, 3, stride=stride, padding=1, bias=False)

    specs = [conv(1, 32), BatchNorm.spec_of(32), MaxPool2D.spec_of(2), ReLU.spec_of(),
             Residual.spec_of([conv(32, 32), BatchNorm.spec_of(32), ReLU.spec_of(), conv(32, 32),
                               BatchNorm.spec_of(32)]), ReLU.spec_of(),
             Residual.spec_of([conv(32, 64, stride=2), BatchNorm.spec_of(64), ReLU.spec_of(), conv(64, 64),
                               BatchNorm.spec_of(64)]), ReLU.spec_of(),
             GlobalAvgPool.spec_of()]
    if dropout:
        specs.append(Dropout.spec_of(dropout))
    specs.append(Dense.spec_of(64, num_classes))
    return _sequential(specs, (1, h, w), f"the resnet ({num_classes} classes)", max_params, output=output,
                       loss=loss, input_shape=(1, h, w), seed=seed, **kwargs)
