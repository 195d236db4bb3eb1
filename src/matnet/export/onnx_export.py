"""A matnet model as an ONNX graph, built with the ``onnx`` package (an optional extra: ``pip install onnx``).

The graph takes ``image`` (N x 784 for an MLP, N x C x H x W for a convolutional network; N symbolic), pixels
scaled as the model was trained (``pixel / 255``), and gives ``probabilities`` (N x classes): matnet models end
in logits, so a Softmax is added (unless the model ends in one). Layer by layer:

    Dense          Gemm(x, W, b, transB=1)       matnet keeps W as (out, in): z = x @ W.T + b
    Conv2D         Conv                          W is (F, C, k, k) in both
    BatchNorm      BatchNormalization            inference form: the running statistics (not folded)
    MaxPool2D      MaxPool                       AvgPool2D: AveragePool; GlobalAvgPool: GlobalAveragePool + Flatten
    Flatten        Flatten(axis=1)               matnet flattens (N, C, H, W) in C, H, W order (NumPy's reshape of
                                                 the indexed array; the channels-last memory does not show), as ONNX
    ReLU ...       Relu, LeakyRelu, Sigmoid, Tanh, Softmax
    Residual       its layers, the projection (if any), then Add
    Dropout        nothing: the identity at inference

Weights are stored as float32 whatever the model's dtype. The class names and the preprocessing go into the
model's ``metadata_props`` (as JSON), so a runtime can label its outputs without matnet.
"""

from __future__ import annotations

import json
from pathlib import Path

from matnet.errors import MatnetError
from matnet.export.common import check_file_target, check_softmax_output, float32
from matnet.fileio import atomic_path
from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual

__all__ = ["OPSET", "IR_VERSION", "INPUT", "OUTPUT", "EMITTERS", "require_onnx", "to_onnx", "export_onnx"]

# Opset 17 and IR version 8 (ONNX 1.12, 2022): every op used here exists there unchanged, and runtimes years old
# still load the file.
OPSET, IR_VERSION = 17, 8
INPUT, OUTPUT = "image", "probabilities"


def require_onnx():
    """The ``onnx`` module, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise MatnetError("the ONNX export needs the onnx package: pip install onnx (or pip install "
                          "'matnet[export]')") from None
    return onnx


class _Graph:
    """Nodes and weights (initializers) collected in order; every value is named after the layer that makes it."""

    def __init__(self, onnx):
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.nodes, self.weights = [], []

    def weight(self, name: str, array) -> str:
        self.weights.append(self.numpy_helper.from_array(float32(array), name=name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name


def _dense(graph: _Graph, layer, x: str) -> str:
    w, b = graph.weight(f"{layer.name}.W", layer.params["W"]), graph.weight(f"{layer.name}.b", layer.params["b"])
    return graph.node("Gemm", [x, w, b], layer.name, transB=1)


def _conv(graph: _Graph, layer, x: str) -> str:
    inputs = [x, graph.weight(f"{layer.name}.W", layer.params["W"])]
    if layer.bias:                                                   # ONNX's Conv takes B as an optional input
        inputs.append(graph.weight(f"{layer.name}.b", layer.params["b"]))
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    return graph.node("Conv", inputs, layer.name, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])


def _batchnorm(graph: _Graph, layer, x: str) -> str:
    inputs = [graph.weight(f"{layer.name}.{key}", array) for key, array in (
        ("gamma", layer.params["gamma"]), ("beta", layer.params["beta"]),
        ("running_mean", layer.buffers["running_mean"]), ("running_var", layer.buffers["running_var"]))]
    return graph.node("BatchNormalization", [x, *inputs], layer.name, epsilon=layer.eps)


def _pool(op: str):
    def emit(graph: _Graph, layer, x: str) -> str:
        k, s = layer.pool_size, layer.stride
        return graph.node(op, [x], layer.name, kernel_shape=[k, k], strides=[s, s])
    return emit


def _global_avg_pool(graph: _Graph, layer, x: str) -> str:
    pooled = graph.node("GlobalAveragePool", [x], f"{layer.name}.pooled")        # (N, C, 1, 1)
    return graph.node("Flatten", [pooled], layer.name, axis=1)                    # (N, C), as matnet's


def _op(op: str, **attributes):
    return lambda graph, layer, x: graph.node(op, [x], layer.name, **attributes)


def _residual(graph: _Graph, layer, x: str) -> str:
    h = x
    for inner in layer.layers:
        h = _layer(graph, inner, h)
    shortcut = _layer(graph, layer.projection, x) if layer.projection is not None else x
    return graph.node("Add", [h, shortcut], layer.name)


# Each layer type -> its emitter: (graph, layer, the value it reads) -> the value it outputs. A layer type missing
# here is refused with one line (tests/test_layers_everywhere.py walks the registry against this table).
EMITTERS = {
    Dense: _dense, Conv2D: _conv, BatchNorm: _batchnorm,
    MaxPool2D: _pool("MaxPool"), AvgPool2D: _pool("AveragePool"), GlobalAvgPool: _global_avg_pool,
    Flatten: _op("Flatten", axis=1),
    ReLU: _op("Relu"), Sigmoid: _op("Sigmoid"), Tanh: _op("Tanh"), Softmax: _op("Softmax", axis=-1),
    LeakyReLU: lambda graph, layer, x: graph.node("LeakyRelu", [x], layer.name, alpha=layer.alpha),
    Residual: _residual,
    Dropout: lambda graph, layer, x: x,                                          # the identity at inference
}


def _layer(graph: _Graph, layer, x: str) -> str:
    """Append ``layer``'s ops reading the value ``x``; the name of the value it outputs."""
    emit = EMITTERS.get(type(layer))
    if emit is None:
        raise MatnetError(f"layer {layer.name} ({type(layer).__name__}) cannot be exported to ONNX: no ONNX op "
                          f"for it here")
    return emit(graph, layer, x)


def to_onnx(model, *, source: str = "", check: bool = True):
    """The ``onnx.ModelProto`` of ``model`` (checked with ``onnx.checker.check_model(full_check=True)``)."""
    check_softmax_output(model, "ONNX")
    onnx = require_onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto
    graph = _Graph(onnx)
    x = INPUT
    for layer in model.layers:
        x = _layer(graph, layer, x)
    if model.ends_in_softmax:                       # already probabilities: name them
        graph.node("Identity", [x], OUTPUT)
    else:
        graph.node("Softmax", [x], OUTPUT, axis=-1)
    n_classes = len(model.classes)
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *model.input_shape])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", n_classes])]
    body = helper.make_graph(graph.nodes, model.name or "matnet", inputs, outputs, initializer=graph.weights,
                             doc_string=f"{INPUT}: pixel / 255, shape (N, {', '.join(map(str, model.input_shape))})"
                                        f"; {OUTPUT}: softmax over the {n_classes} classes")
    from matnet import __version__

    proto = helper.make_model(body, producer_name="matnet", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=f"exported by matnet {__version__}" + (f" from {source}" if source else ""))
    proto.ir_version = IR_VERSION
    helper.set_model_props(proto, {
        "classes": json.dumps(list(model.classes)),
        "preprocessing": json.dumps(model.preprocessing),
        "input": json.dumps({"name": INPUT, "shape": ["N", *model.input_shape], "scale": "pixel / 255"}),
        "output": json.dumps({"name": OUTPUT, "shape": ["N", n_classes], "what": "softmax probabilities"}),
        "matnet_layers": json.dumps([type(layer).__name__ for layer in model.layers]),
    })
    if check:
        try:
            onnx.checker.check_model(proto, full_check=True)
        except Exception as err:  # the checker's own exception types differ between onnx versions
            raise MatnetError(f"the exported ONNX graph does not pass onnx.checker: {err}") from None
    return proto


def _made_by_matnet(path: Path) -> bool:
    """Whether ``path`` is an ONNX file matnet exported (its producer is matnet)."""
    try:
        return require_onnx().load(str(path), load_external_data=False).producer_name == "matnet"
    except Exception:  # noqa: BLE001 - not ONNX, unreadable: not ours
        return False


def export_onnx(model, path: str | Path, *, force: bool = False, source: str = "", replace_own: bool = True) -> Path:
    """Write ``model`` to ``path`` as ONNX, atomically. An existing file is replaced with ``force``, or, when
    ``replace_own`` (Python's default, so that a notebook cell runs again), if matnet exported it; anything else
    is refused (the command line passes ``replace_own=False``: there only ``--force`` replaces)."""
    path = check_file_target(path, force, _made_by_matnet if replace_own else None)
    proto = to_onnx(model, source=source)
    data = proto.SerializeToString()
    with atomic_path(path, suffix=".onnx") as tmp:
        tmp.write_bytes(data)
    return path
