"""matnet: neural networks from scratch as matrix operations.

    from matnet import Sequential, Dense, ReLU, Adam
    model = Sequential([Dense(784, 128), ReLU(), Dense(128, 64), ReLU(), Dense(64, 10)])
    model.summary()

Layout (imports run one way, each layer only from those before it):

    backend -> data -> nn -> optim -> train -> model, model_file -> runfolder -> config, run -> reports -> cli
"""

from matnet.errors import MatnetError
from matnet.model import Sequential, build_mlp
from matnet.model_file import save_model
from matnet.nn import (Dense, Dropout, LeakyReLU, MeanSquaredError, ReLU, Sigmoid, Softmax, SoftmaxCrossEntropy,
                       Tanh)
from matnet.optim import SGD, Adam, AdamW, Momentum, Nesterov, Schedule, make_schedule
from matnet.runfolder import load_model

__version__ = "0.1.0"

__all__ = ["SGD", "Adam", "AdamW", "Dense", "Dropout", "LeakyReLU", "MatnetError", "MeanSquaredError", "Momentum",
           "Nesterov", "ReLU", "Schedule", "Sequential", "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh",
           "build_mlp", "load_model", "make_schedule", "save_model"]
