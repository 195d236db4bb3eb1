"""The engine: layers, losses, initialisers and the network that chains them. Imports nothing above it."""

from matnet.nn.activations import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, softmax
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.init import INITIALIZERS, initialize
from matnet.nn.layer import Layer
from matnet.nn.losses import LOSSES, MeanSquaredError, SoftmaxCrossEntropy, one_hot
from matnet.nn.network import Network
from matnet.nn.parameters import Parameters

LAYERS = {cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout)}

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LAYERS", "LOSSES",
    "Dense", "Dropout", "Layer", "LeakyReLU", "MeanSquaredError", "Network", "Parameters", "ReLU",
    "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh", "initialize", "one_hot", "softmax",
]
