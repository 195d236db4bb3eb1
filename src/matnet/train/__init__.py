"""Training: the loop, its callbacks, the metrics it reports, and the history it returns."""

from matnet.train.callbacks import (BestModel, Callback, EarlyStopping, EpochLog, LayerStats, MetricsLog, ProgressBar,
                                    StepLog, format_metrics)
from matnet.train.metrics import accuracy, confusion_matrix, evaluate, per_class
from matnet.train.trainer import BestEpoch, History, Trainer, TrainingDiverged, TrainingInterrupted

__all__ = ["BestEpoch", "BestModel", "Callback", "EarlyStopping", "EpochLog", "History", "LayerStats", "MetricsLog",
           "ProgressBar", "StepLog", "Trainer", "TrainingDiverged", "TrainingInterrupted", "accuracy",
           "confusion_matrix", "evaluate", "format_metrics", "per_class"]
