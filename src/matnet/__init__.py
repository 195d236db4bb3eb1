"""matnet: neural networks from scratch as matrix operations.

    from matnet import Sequential, Dense, ReLU, Adam
    model = Sequential([Dense(784, 128), ReLU(), Dense(128, 64), ReLU(), Dense(64, 10)])
    model.summary()
    model.fit(x_train, y_train, epochs=5, optimizer=Adam(1e-3))
    model.save("digits")                # digits.npz + digits.json
    model = matnet.load("digits")       # a model file, or a run folder of `matnet train`

Everything a README example uses comes from here: layers, losses, optimizers and schedules, the builders of the
four architectures (mlp, cnn, fastcnn, resnet), the training loop and its callbacks, and loading and saving.

Layout (imports run one way, each layer only from those before it):

    backend -> data -> nn -> optim -> train -> model, model_file -> runfolder -> config, run
        -> reports, export, serve -> cli
"""

from matnet.backend import use_device
from matnet.errors import MatnetError
from matnet.architectures import build_cnn, build_fastcnn, build_mlp, build_resnet
from matnet.model import Sequential
from matnet.model_file import save_model
from matnet.nn import (AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool, Layer, LeakyReLU,
                       MaxPool2D, MeanSquaredError, Network, ReLU, Residual, Sigmoid, Softmax, SoftmaxCrossEntropy,
                       Tanh)
from matnet.optim import SGD, Adam, AdamW, Momentum, Nesterov, Optimizer, Schedule, make_optimizer, make_schedule
from matnet.runfolder import load_model
from matnet.train import (Callback, EarlyStopping, EpochLog, History, ProgressBar, Trainer, TrainingDiverged,
                          TrainingInterrupted)

load = load_model   # matnet.load(path): a run folder (its final model) or a model file (x, x.npz or x.json)

__version__ = "0.1.0"

__all__ = [
    "SGD", "Adam", "AdamW", "AvgPool2D", "BatchNorm", "Callback", "Conv2D", "Dense", "Dropout", "EarlyStopping",
    "EpochLog", "Flatten", "GlobalAvgPool", "History", "Layer", "LeakyReLU", "MatnetError", "MaxPool2D",
    "MeanSquaredError", "Momentum", "Nesterov", "Network", "Optimizer", "ProgressBar", "ReLU", "Residual",
    "Schedule", "Sequential", "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh", "Trainer", "TrainingDiverged",
    "TrainingInterrupted", "build_cnn", "build_fastcnn", "build_mlp", "build_resnet", "load", "load_model",
    "make_optimizer", "make_schedule", "save_model", "use_device",
]
