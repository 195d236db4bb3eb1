"""The engine: layers, losses, initialisers and the network that chains them. Imports nothing above it."""

from matnet.nn.activations import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, softmax
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.init import INITIALIZERS, initialize
from matnet.nn.layer import Layer
from matnet.nn.losses import MeanSquaredError, SoftmaxCrossEntropy, one_hot
from matnet.nn.network import Network
from matnet.nn.parameters import Parameters
from matnet.nn.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from matnet.nn.registry import LAYERS, build_layer, layer_spec
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LAYERS",
    "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "GlobalAvgPool", "Layer", "LeakyReLU",
    "MaxPool2D", "MeanSquaredError", "Network", "Parameters", "ReLU", "Residual", "Sigmoid", "Softmax",
    "SoftmaxCrossEntropy", "Tanh", "build_layer", "initialize", "layer_spec", "one_hot", "softmax",
]
