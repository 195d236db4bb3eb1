"""A matnet model as dependency-free C99: ``model.h``, ``model.c`` (weights as ``static const float`` arrays and
``int matnet_predict(const float image[784], float probabilities[10])``) and ``main.c`` (reads PGM images).

The model becomes a straight list of steps, each a call of a small C function written once in the template
(``templates/model.c.j2``), with every size a literal. Two scratch buffers, ``a`` and ``b``, each sized at export
time to the largest activation it holds, live on the stack of ``matnet_predict``; a step reads one and writes the
other, or works in place. Supported, and how:

    Dense            dense(): W stored transposed (in, out), so the inner loop runs along contiguous outputs
    Conv2D           pad() (if padded), then conv2d() on channels-last activations; filters stored (k, k, C, F)
    BatchNorm        folded into the Conv2D or Dense right before it (W' = W * s, b' = b * s + t, per channel,
                     with s = gamma / sqrt(var + eps), t = beta - mean * s); elsewhere a per-channel affine()
    MaxPool2D        maxpool(), channels-last
    Flatten          hwc_to_chw(): matnet flattens in (C, H, W) order, the order the next Dense's W expects
    ReLU, LeakyReLU, Sigmoid, Tanh, Softmax   in place (Softmax: vectors only)
    Dropout          nothing: the identity at inference

Anything else (Residual, AvgPool2D, GlobalAvgPool) is an error that names the layer; ONNX exports those.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import jinja2
import numpy as np

from matnet.backend import to_numpy
from matnet.errors import MatnetError
from matnet.export.common import batchnorm_affine, check_folder_target, check_softmax_output
from matnet.fileio import write_text
from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual

__all__ = ["C_FILES", "SUPPORTED", "CC", "c_float", "c_sources", "export_c"]

C_FILES = ("model.h", "model.c", "main.c")
SUPPORTED = ("Dense, Conv2D, BatchNorm (folded into the Conv2D or Dense before it), MaxPool2D, Flatten, ReLU, "
             "LeakyReLU, Sigmoid, Tanh, Softmax, Dropout (dropped)")
CC = "cc -O2 -std=c99 -Wall -Wextra -pedantic -o predict main.c model.c -lm"

_env = jinja2.Environment(loader=jinja2.PackageLoader("matnet.export", "templates"), autoescape=False,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                          undefined=jinja2.StrictUndefined)


def c_float(value: float) -> str:
    """A float32 as a C literal that reads back exactly: ``%.9g`` digits (enough for any float32) and ``f``."""
    if not math.isfinite(value):
        raise MatnetError(f"cannot write {value} as a C float literal (the model holds a non-finite number)")
    text = f"{value:.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"                         # "3f" is not C; "3.0f" is
    return text + "f"


def c_array_body(values: np.ndarray, per_line: int = 8) -> str:
    """The initializer's numbers, ``per_line`` to a line, indented."""
    flat = np.asarray(values, dtype=np.float32).ravel().tolist()
    words = [c_float(v) + "," for v in flat]
    return "\n".join("    " + " ".join(words[k:k + per_line]) for k in range(0, len(words), per_line))


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8; anything but plain printable ASCII as octal escapes)."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '\\"?':                   # '?' too: "??x" would be a trigraph
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """Text that is safe inside a /* */ comment: no end of it, no nested start (-Wcomment), no trigraph, one line."""
    return str(text).replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?").replace("\n", " ")


def _unsupported(layer) -> MatnetError:
    return MatnetError(f"layer {layer.name} ({type(layer).__name__}) cannot be exported to C: the C export "
                       f"supports {SUPPORTED}; --format onnx exports every matnet layer")


class _Program:
    """The steps of ``matnet_predict`` and the arrays they read, built layer by layer.

    ``cur`` names the array holding the current activation ("image", "a" or "b"), ``shape`` its matnet shape
    (one sample), ``layout`` its memory order for images: "chw" (the input, and Flatten's output) or "hwc"."""

    def __init__(self, input_shape):
        self.steps, self.arrays, self.helpers = [], [], set()
        self.sizes = {"a": 0, "b": 0}
        self.names = set()
        self.cur, self.shape, self.layout = "image", tuple(input_shape), "chw"

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def step(self, comment: str, helper: str, *lines: str) -> None:
        self.steps.append({"comment": _comment(comment), "lines": list(lines)})
        self.helpers.add(helper)

    def target(self, size: int) -> str:
        """The buffer the next step writes (not the one it reads), grown to ``size`` floats."""
        out = "b" if self.cur == "a" else "a"
        self.sizes[out] = max(self.sizes[out], size)
        return out

    def array(self, base: str, values: np.ndarray, comment: str) -> str:
        name = re.sub(r"\W", "_", base, flags=re.ASCII)
        if not name or name[0].isdigit():
            name = "w_" + name
        while name in self.names:
            name += "_"
        self.names.add(name)
        values = np.asarray(values, dtype=np.float32)
        if not np.isfinite(values).all():
            raise MatnetError(f"{base}: holds non-finite numbers (NaN or inf); such a model cannot predict")
        self.arrays.append({"name": name, "size": values.size, "comment": _comment(comment),
                            "body": c_array_body(values)})
        return name

    def writable(self) -> None:
        """In-place steps may not write the caller's image: copy it into a buffer first."""
        if self.cur == "image":
            out = self.target(self.size)
            self.step("a copy of the image to work on in place", "copy", f"copy(image, {self.size}, {out});")
            self.cur = out

    def channels_last(self) -> None:
        c, h, w = self.shape
        if self.layout == "chw" and c > 1:
            out = self.target(self.size)
            self.step(f"({c}, {h}, {w}) channels first -> ({h}, {w}, {c}) channels last", "chw_to_hwc",
                      f"chw_to_hwc({self.cur}, {c}, {h}, {w}, {out});")
            self.cur = out
        self.layout = "hwc"

    # --- one method per supported layer -------------------------------------------------------------------
    def dense(self, layer: Dense, bn: BatchNorm | None) -> None:
        if len(self.shape) != 1:
            raise MatnetError(f"layer {layer.name} (Dense) reads {self.shape}; a Flatten must come first")
        W = to_numpy(layer.params["W"]).astype(np.float64)
        b = to_numpy(layer.params["b"]).astype(np.float64)
        folded = ""
        if bn is not None:
            scale, shift = batchnorm_affine(bn)
            W, b, folded = W * scale[:, None], b * scale + shift, f", {bn.name} (BatchNorm) folded in"
        n_in, n_out = layer.in_features, layer.out_features
        wt = self.array(f"{layer.name}_wt", W.T, f"{layer.name}: W transposed, ({n_in}, {n_out}){folded}")
        bias = self.array(f"{layer.name}_b", b, f"{layer.name}: b, ({n_out},)")
        out = self.target(n_out)
        self.step(f"{layer.name} (Dense {n_in} -> {n_out}){folded}", "dense",
                  f"dense({self.cur}, {n_in}, {wt}, {bias}, {n_out}, {out});")
        self.cur, self.shape = out, (n_out,)

    def conv2d(self, layer: Conv2D, bn: BatchNorm | None) -> None:
        self.channels_last()
        c, h, w = self.shape
        k, s, p, f = layer.kernel_size, layer.stride, layer.padding, layer.out_channels
        W = to_numpy(layer.params["W"]).astype(np.float64)
        b = to_numpy(layer.params["b"]).astype(np.float64) if layer.bias else np.zeros(f)   # no bias: b = 0
        folded = ""
        if bn is not None:
            scale, shift = batchnorm_affine(bn)
            W, b, folded = W * scale[:, None, None, None], b * scale + shift, f", {bn.name} (BatchNorm) folded in"
        if p:
            out = self.target((h + 2 * p) * (w + 2 * p) * c)
            self.step(f"{layer.name}: a border of {p} zero(s), ({h}, {w}, {c}) -> ({h + 2 * p}, {w + 2 * p}, {c})",
                      "pad", f"pad({self.cur}, {h}, {w}, {c}, {p}, {out});")
            self.cur, h, w = out, h + 2 * p, w + 2 * p
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        wk = self.array(f"{layer.name}_w", W.transpose(2, 3, 1, 0),
                        f"{layer.name}: the filters as ({k}, {k}, {c}, {f}){folded}")
        bias = self.array(f"{layer.name}_b", b, f"{layer.name}: b, ({f},)")
        out = self.target(ho * wo * f)
        self.step(f"{layer.name} (Conv2D {c} -> {f}, {k}x{k}, stride {s}){folded}: ({h}, {w}, {c}) -> "
                  f"({ho}, {wo}, {f})", "conv2d",
                  f"conv2d({self.cur}, {h}, {w}, {c}, {wk}, {bias}, {f}, {k}, {s}, {out});")
        self.cur, self.shape = out, (f, ho, wo)

    def maxpool(self, layer: MaxPool2D) -> None:
        self.channels_last()
        c, h, w = self.shape
        k, s = layer.pool_size, layer.stride
        ho, wo = (h - k) // s + 1, (w - k) // s + 1
        out = self.target(ho * wo * c)
        self.step(f"{layer.name} (MaxPool2D {k}x{k}, stride {s}): ({h}, {w}, {c}) -> ({ho}, {wo}, {c})", "maxpool",
                  f"maxpool({self.cur}, {h}, {w}, {c}, {k}, {s}, {out});")
        self.cur, self.shape = out, (c, ho, wo)

    def flatten(self, layer: Flatten) -> None:
        if len(self.shape) == 3:
            c, h, w = self.shape
            if self.layout == "hwc" and c > 1 and h * w > 1:
                out = self.target(self.size)
                self.step(f"{layer.name} (Flatten): ({h}, {w}, {c}) -> {self.size} in matnet's (C, H, W) order",
                          "hwc_to_chw", f"hwc_to_chw({self.cur}, {h}, {w}, {c}, {out});")
                self.cur = out
        self.shape, self.layout = (self.size,), "chw"

    def batchnorm(self, layer: BatchNorm) -> None:
        if len(self.shape) == 3:
            self.channels_last()
        self.writable()
        scale, shift = batchnorm_affine(layer)
        c = layer.num_features
        positions = self.size // c
        s = self.array(f"{layer.name}_scale", scale, f"{layer.name}: gamma / sqrt(running_var + eps)")
        t = self.array(f"{layer.name}_shift", shift, f"{layer.name}: beta - running_mean * scale")
        self.step(f"{layer.name} (BatchNorm, inference form)", "affine",
                  f"affine({self.cur}, {positions}, {c}, {s}, {t});")

    def elementwise(self, layer) -> None:
        self.writable()
        n = self.size
        if isinstance(layer, ReLU):
            self.step(f"{layer.name} (ReLU)", "relu", f"relu({self.cur}, {n});")
        elif isinstance(layer, LeakyReLU):
            self.step(f"{layer.name} (LeakyReLU)", "leaky_relu",
                      f"leaky_relu({self.cur}, {n}, {c_float(layer.alpha)});")
        elif isinstance(layer, Sigmoid):
            self.step(f"{layer.name} (Sigmoid)", "sigmoid", f"sigmoid({self.cur}, {n});")
        else:
            self.step(f"{layer.name} (Tanh)", "tanh", f"tanh_({self.cur}, {n});")

    def softmax(self, layer: Softmax) -> None:
        if len(self.shape) != 1:
            raise _unsupported(layer)
        out = self.target(self.size)
        self.step(f"{layer.name} (Softmax)", "softmax", f"softmax({self.cur}, {self.size}, {out});")
        self.cur = out


# Each layer type -> the _Program method that writes its step. Dense and Conv2D take the BatchNorm that follows
# them (folded in, or None); Dropout is skipped (the identity at inference). A layer type missing here is refused
# with one line (tests/test_layers_everywhere.py walks the registry against this table).
STEPS = {Dense: _Program.dense, Conv2D: _Program.conv2d, MaxPool2D: _Program.maxpool, Flatten: _Program.flatten,
         BatchNorm: _Program.batchnorm, ReLU: _Program.elementwise, LeakyReLU: _Program.elementwise,
         Sigmoid: _Program.elementwise, Tanh: _Program.elementwise, Softmax: _Program.softmax}
FOLDS_BATCHNORM = (Dense, Conv2D)
SKIPPED = (Dropout,)
REFUSED = (AvgPool2D, GlobalAvgPool, Residual)   # one clear line each (``_unsupported``); ONNX exports them


def _program(model) -> _Program:
    """The steps of ``model``'s forward pass, BatchNorm folded where it follows a Conv2D or Dense, and the final
    softmax into ``probabilities`` (a model that ``ends_in_softmax``: its own final Softmax is that one)."""
    check_softmax_output(model, "C")
    layers = [layer for layer in model.layers if type(layer) not in SKIPPED]
    if model.ends_in_softmax:
        layers = layers[:-1]
    program = _Program(model.input_shape)
    k = 0
    while k < len(layers):
        layer = layers[k]
        write = STEPS.get(type(layer))
        if write is None:
            raise _unsupported(layer)
        if type(layer) in FOLDS_BATCHNORM:
            following = layers[k + 1] if k + 1 < len(layers) else None
            bn = following if isinstance(following, BatchNorm) else None
            write(program, layer, bn)
            k += 2 if bn is not None else 1
            continue
        write(program, layer)
        k += 1
    if program.shape != (len(model.classes),):
        raise MatnetError(f"the model's output has shape {program.shape}, not one value per class "
                          f"({len(model.classes)})")
    program.step(f"the probabilities: softmax of the {len(model.classes)} outputs", "softmax",
                 f"softmax({program.cur}, {program.size}, probabilities);")
    return program


def image_size(model) -> tuple[int, int, int]:
    """(channels, height, width) of the picture ``matnet_predict`` reads, for main.c: a CNN's input shape; for an
    MLP the preprocessing's image shape, else a square, else one row."""
    shape = tuple(model.input_shape)
    if len(shape) == 3:
        return shape
    n = math.prod(shape)
    stored = model.preprocessing.get("image_shape")
    if isinstance(stored, list) and len(stored) == 2 and all(isinstance(v, int) for v in stored) \
            and math.prod(stored) == n:
        return (1, *stored)
    side = math.isqrt(n)
    return (1, side, side) if side * side == n else (1, 1, n)


def c_sources(model, *, source: str = "") -> dict[str, str]:
    """``{"model.h": text, "model.c": text, "main.c": text}`` for ``model``."""
    from matnet import __version__

    program = _program(model)
    channels, height, width = image_size(model)
    n_params = sum(int(np.prod(a.shape)) for a in model.parameters.arrays().values())
    kind = "convolutional network" if len(model.input_shape) == 3 else "network"
    description = _comment(f"a {kind} of {len(model.layers)} layers, {n_params:,} parameters, "
                           f"{len(model.classes)} classes")
    buffers = [{"name": name, "size": size} for name, size in program.sizes.items() if size]
    context = {
        "version": __version__, "source": _comment(source), "description": description,
        "channels": channels, "height": height, "width": width, "input_size": math.prod(model.input_shape),
        "n_classes": len(model.classes), "stack_bytes": 4 * sum(b["size"] for b in buffers),
        "scale": _comment(model.preprocessing.get("scale", "pixel / 255")),
        "polarity": "light ink on a dark background, as MNIST",
        "summary": [step["comment"] for step in program.steps],
        "helpers": {name: name in program.helpers for name in (
            "dense", "pad", "conv2d", "maxpool", "chw_to_hwc", "hwc_to_chw", "affine", "relu", "leaky_relu",
            "sigmoid", "tanh", "copy", "softmax")},
        "arrays": program.arrays, "buffers": buffers, "steps": program.steps,
        "class_names": ", ".join(c_string(name) for name in model.classes),
    }
    return {name: _env.get_template(name + ".j2").render(**context) for name in C_FILES}


def _made_by_matnet(path: Path) -> bool:
    """Whether ``path`` is a file of a C export: its header comment names it and matnet."""
    try:
        with open(path, "rb") as file:
            head = file.read(400)
    except OSError:
        return False
    return head.startswith(f"/* {path.name}: ".encode()) and b"exported by matnet" in head


def export_c(model, folder: str | Path, *, force: bool = False, source: str = "",
             replace_own: bool = True) -> list[Path]:
    """Write model.h, model.c and main.c into ``folder`` (made if needed; its parent must exist), each atomically.
    An existing folder that is not empty is written into with ``force``, which replaces those three files and
    nothing else; or, when ``replace_own`` (Python's default: a notebook cell runs again), if it holds only an
    earlier C export (the three files, each with matnet's header); the command line passes ``replace_own=False``.
    Unsupported layers are refused before anything is written."""
    folder = check_folder_target(folder, force, list(C_FILES), _made_by_matnet if replace_own else None)
    texts = c_sources(model, source=source)
    folder.mkdir(exist_ok=True)
    paths, new = [], []
    try:
        for name, text in texts.items():
            existed = (folder / name).exists()
            write_text(folder / name, text)
            paths.append(folder / name)
            if not existed:
                new.append(folder / name)
    except BaseException:        # a full disk half-way: take back the files this export made, so a retry can run
        for path in new:
            path.unlink(missing_ok=True)
        raise
    return paths
