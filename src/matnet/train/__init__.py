"""Training: the loop, its callbacks, and the history it returns."""

from matnet.train.callbacks import Callback, EarlyStopping, EpochLog, ProgressBar
from matnet.train.trainer import History, Trainer, TrainingDiverged, accuracy, evaluate

__all__ = ["Callback", "EarlyStopping", "EpochLog", "History", "ProgressBar", "Trainer", "TrainingDiverged",
           "accuracy", "evaluate"]
