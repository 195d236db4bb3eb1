"""How many parameters a network will have, found before anything is made, and the one limit on a model's size.

Each layer type has one sizing rule, ``param_shapes(config)`` (its constructor allocates exactly those), and a
residual block says what its projection will add (``params_to_make``). ``build_within`` adds them up from the
layers' specs and refuses a network before it is made: the builders (``matnet.architectures``) hold it to the
limit below, the model-file reader (``matnet.model_file``) to the parameters a file declares, which it holds to
the same limit.

The limit: no MNIST-shaped model needs more than ``MAX_PARAMS`` parameters (the default MLP has 109,386, a wide
ResNet a few million; 50 million float32 weights take 200 MB, their gradients and Adam's moments three times that).
``max_params=`` (``load_model``, the builders) or ``$MATNET_MAX_PARAMS`` raises it, for building and for loading
alike, so that ``matnet train`` never trains what matnet would not load.
"""

from __future__ import annotations

import math
import os
from typing import Callable

from matnet.errors import MatnetError
from matnet.nn.layer import Layer, count
from matnet.nn.registry import LAYERS, build_layer

__all__ = ["MAX_PARAMS", "params_limit", "check_params", "count_text", "too_many", "spec_params", "build_within"]

MAX_PARAMS = 50_000_000


def params_limit(max_params: int | None = None) -> int:
    """The limit: ``max_params`` if given, else ``$MATNET_MAX_PARAMS``, else MAX_PARAMS."""
    if max_params is not None:
        return int(max_params)
    value = os.environ.get("MATNET_MAX_PARAMS", "").strip()
    if not value:
        return MAX_PARAMS
    if not value.isdigit():
        raise MatnetError(f"MATNET_MAX_PARAMS={value!r}: expected a whole number of parameters")
    return int(value)


def count_text(n: int) -> str:
    """1,234,567; a count too long to read (a size of 1e300 in a hostile file) as 5.0e+300, also beyond a float's
    range (1e308 x 785: 7.8e+310), where ``float(n)`` is an OverflowError."""
    if n < 10**15:
        return f"{n:,}"
    if n < 10**300:
        return f"{float(n):.1e}"
    exponent = int(math.log10(n))                        # math.log10 takes an int of any size (and may round up)
    if n < 10**exponent:
        exponent -= 1
    return f"{n // 10 ** (exponent - 1) / 10:.1f}e+{exponent}"     # the first two digits, exact


def too_many(n: int, limit: int, advice: str = "", *, or_more: bool = False) -> str:
    """"N parameters, more than the limit of L (...)", the words every refusal uses."""
    return (f"{count_text(n)} parameters{' or more' if or_more else ''}, more than the limit of {limit:,} (no "
            f"MNIST-shaped model needs that many; raise it with {advice or 'max_params=... or MATNET_MAX_PARAMS'})")


def check_params(n: int, what: str, max_params: int | None = None, *, or_more: bool = False) -> None:
    """A MatnetError naming ``what`` when ``n`` parameters (``or_more``: at least ``n``) are over the limit
    (``params_limit``)."""
    limit = params_limit(max_params)
    if n > limit:
        raise MatnetError(f"{what} would make {too_many(n, limit, or_more=or_more)}")


def spec_params(spec) -> int:
    """The parameters building ``spec`` makes, the layers nested in it included, from the configs alone (each
    type's ``param_shapes``); a residual projection aside, which depends on the input shape (``build_within``).
    A KeyError names an unknown type; a ValueError or TypeError, a config that is not one."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"a layer entry must be an object with a config object, got {spec!r:.80}")
    kind: type[Layer] = LAYERS[spec["type"]]
    config = spec.get("config", {})
    return count(kind.param_shapes(config)) + sum(spec_params(inner) for inner in kind.sublayer_specs(config))


def build_within(specs: list, input_shape: tuple[int, ...], check: Callable[[int, bool], None]) -> list[Layer]:
    """The layers ``specs`` describe, for one sample of ``input_shape``, sized before they are made.

    ``check(n, or_more)`` refuses ``n`` parameters by raising. It is asked first with the parameters the specs'
    configs make, before any layer is made (``or_more``: blocks among them may add projections, which depend on
    the input shape); then, the layers made (no more than the first answer allowed), with the projections the
    network will add when it builds them, before it does (``or_more`` False: the count is the network's).
    A layer whose input does not fit is a ValueError naming it by its place and type."""
    made = sum(spec_params(spec) for spec in specs)
    check(made, any(_may_add(spec) for spec in specs))
    layers = [build_layer(spec) for spec in specs]
    shape = tuple(input_shape)
    for place, layer in enumerate(layers, 1):
        try:
            made += layer.params_to_make(shape)
            shape = tuple(layer.output_shape(shape))
        except ValueError as err:
            raise ValueError(f"layer {place} ({type(layer).__name__}) {err}") from None
    check(made, False)
    return layers


def _may_add(spec) -> bool:
    """Whether building the layer ``spec`` describes may make parameters of its own (its type has a rule for
    them: a residual block)."""
    return LAYERS[spec["type"]].params_to_make is not Layer.params_to_make
