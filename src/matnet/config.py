"""The configuration of a training run: defaults, TOML files, and checks that name the offending key.

A run's ``config.toml`` holds every setting (defaults included), so it alone reproduces the run; ``--config`` reads
such a file and command-line flags override it.

Every TOML file matnet reads goes through ``matnet.config_file.read_toml`` (bounded in size before it is
parsed); an error here lists at most ``MAX_LISTED`` unknown keys and shows a value at most a line long.
"""

from __future__ import annotations

import difflib
import math
import reprlib
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import tomli_w

from matnet.errors import MatnetError, SettingError
from matnet.config_file import read_toml
from matnet.nn.activations import ACTIVATIONS
from matnet.nn.dropout import Dropout
from matnet.nn.init import INITIALIZERS
from matnet.nn.losses import check_output, make_loss
from matnet.optim.optimizers import make_optimizer
from matnet.optim.schedules import make_schedule

__all__ = ["TrainConfig", "PRESETS", "load_config", "config_toml"]

MAX_LISTED = 10              # unknown keys an error names (then "and N more")

# Starting points that `--preset NAME` fills in (a config file and flags override them). The convolutional presets
# keep the recipes their figures were measured with: no other writers' digits (writers = 0).
PRESETS = {
    "mlp": {},
    "cnn": {"model": "cnn", "dropout": 0.25, "optimizer": "momentum", "lr": 0.05, "momentum": 0.9,
            "weight_decay": 5e-4, "label_smoothing": 0.1, "schedule": "cosine", "warmup": 0.5, "epochs": 12,
            "batch_size": 128, "out": "runs/cnn", "writers": 0.0},
    "speedrun": {"model": "fastcnn", "filters": [16, 32], "dense": 64, "dropout": 0.0, "optimizer": "adam",
                 "lr": 5e-3, "weight_decay": 0.0, "label_smoothing": 0.1, "schedule": "cosine", "warmup": 0.3,
                 "epochs": 3, "batch_size": 128, "val_size": 0, "out": "runs/speedrun", "writers": 0.0},
    "resnet": {"model": "resnet", "dropout": 0.0, "optimizer": "momentum", "lr": 0.05, "momentum": 0.9,
               "weight_decay": 5e-4, "schedule": "cosine", "warmup": 0.5, "epochs": 10, "batch_size": 128,
               "out": "runs/resnet", "writers": 0.0},
    # chapter 1 of Nielsen's 'Neural Networks and Deep Learning': sigmoid 784-100-10, quadratic cost, N(0, 1)
    # weights, plain SGD with eta 3.0 (lr = eta * 10 / 2 = 15, see MeanSquaredError), batches of 10, 30 epochs.
    # N(0, 1) saturates the sigmoids and some seeds stay stuck (the book warns of it): seed 0 ends at 78.5%, seed
    # 6 at 96.37% (configs/nielsen.toml)
    "nielsen": {"layers": [784, 100, 10], "activation": "sigmoid", "init": "normal", "loss": "mse",
                "output": "sigmoid", "optimizer": "sgd", "lr": 15.0, "schedule": "constant", "weight_decay": 0.0,
                "batch_size": 10, "epochs": 30, "seed": 6, "out": "runs/nielsen", "writers": 0.0},
}


@dataclass
class TrainConfig:
    """Everything a run depends on. The defaults are the demo: 784-128-64-10 to >= 98% on MNIST."""

    model: str = "mlp"                 # mlp (sized by layers), cnn or fastcnn (by filters, dense), resnet (fixed)
    layers: list[int] = field(default_factory=lambda: [784, 128, 64, 10])
    filters: list[int] = field(default_factory=lambda: [32, 64])   # cnn: channels of each conv block
    dense: int = 128                   # cnn: width of the hidden dense layer
    activation: str = "relu"
    init: str = "auto"                 # mlp: he_normal for ReLU-like activations, xavier_normal for tanh and sigmoid
    loss: str = "cross-entropy"        # or mse (the mean over N*C entries: lr = eta * classes / 2 of Nielsen's book)
    output: str = "softmax"            # the output layer's activation: softmax, sigmoid or linear (mse only)
    label_smoothing: float = 0.0       # cross-entropy: targets (1 - e) one-hot + e / classes while training
    dropout: float = 0.0
    optimizer: str = "momentum"
    lr: float = 0.1
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup: float = 0.0
    weight_decay: float = 5e-4
    clip_norm: float = 0.0             # 0: no clipping
    patience: int = 0                  # 0: no early stopping
    batch_size: int = 128
    epochs: int = 30
    seed: int = 0
    augment: bool = False              # random shifts (<= 2 px) and rotations (<= 10 degrees) of training images
    flip: bool = False                 # random left-right mirrors of training images (clothing, not digits)
    writers: float = 0.6               # this fraction of training images as other writers' digits (data.writers)
    dataset: str = "mnist"
    subset: int = 0                    # 0: all training images
    val_size: int = 10_000
    out: str = "runs/mlp"             # without --out, a free name from this one: runs/mlp, runs/mlp-2, ...

    def check(self) -> None:
        """Errors that name the setting, before any work is done. The rules of the optimizer, its schedule and
        dropout are their constructors': they are checked by building them (their messages, unchanged). The
        architecture's name and sizes are the model builders' (``matnet.run.build_model``), once the dataset's image
        size is known."""
        if self.activation not in ACTIVATIONS:     # the words of build_mlp, which owns this rule
            raise MatnetError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        # the words of the Trainer (epochs) and of BatchIterator (batch size), which own these rules
        for key, name in (("epochs", "epochs"), ("batch_size", "batch size")):
            if not getattr(self, key) >= 1:
                raise MatnetError(f"{name} must be at least 1, got {getattr(self, key)}")
        if self.init not in ("auto", *INITIALIZERS):   # the words of matnet.nn.init.initialize
            raise MatnetError(f"unknown initialiser {self.init!r}; choose one of auto, {', '.join(INITIALIZERS)}")
        if self.init != "auto" and self.model != "mlp":
            raise MatnetError(f"init {self.init} is for the mlp model; the {self.model} model has its own (use auto)")
        if not self.dense > 0:
            raise MatnetError(f"dense must be positive, got {self.dense}")
        if not str(self.out).strip():     # '' would be the current folder: a run's files among the user's own
            raise MatnetError(f"out must name a folder for the run, got {self.out!r}")
        for key in ("clip_norm", "patience", "subset", "val_size", "seed"):
            if not 0 <= getattr(self, key) < math.inf:      # NaN and infinity fail this too
                raise MatnetError(f"{key.replace('_', '-')} must be a number >= 0, got {getattr(self, key)}")
        if not 0 <= self.writers <= 1:
            raise MatnetError(f"writers must be a fraction from 0 to 1, got {self.writers}")
        try:
            schedule = make_schedule(self.schedule, self.epochs, self.warmup)
            make_optimizer(self.optimizer, self.lr, self.weight_decay, self.momentum, schedule=schedule)
            Dropout(self.dropout)
            check_output(self.output, self.loss)
            make_loss(self.loss, self.label_smoothing)
        except ValueError as err:
            raise MatnetError(str(err)) from None
        # build_mlp's and build_cnn's rules in their words (the model itself is built once the dataset is known)
        if len(self.layers) < 2 or min(self.layers) < 1:
            raise MatnetError(f"layer sizes must be two or more positive numbers, got {self.layers}")
        if not self.filters or min(self.filters) < 1:
            raise MatnetError(f"filters must be one or more positive channel counts, got {self.filters}")
        if self.patience and not self.val_size:
            raise MatnetError("patience (early stopping) watches the validation loss, but val-size is 0: hold out "
                              "some training images, or set patience to 0")

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "TrainConfig":
        """A config from a dict such as a parsed TOML file: unknown keys and wrong types name the key."""
        kinds = typing.get_type_hints(cls)
        unknown = [key for key in values if key not in kinds]
        if unknown:   # all of them at once (the first MAX_LISTED), each with the known key it was probably meant to be
            aliases = {"learning_rate": "lr", "batch": "batch_size", "n_epochs": "epochs", "decay": "weight_decay"}
            named = []
            for key in unknown[:MAX_LISTED]:
                close = [aliases[key]] if key in aliases else difflib.get_close_matches(key[:100], kinds, n=1)
                named.append(f"{_short(key)}" + (f" (did you mean '{close[0]}'?)" if close else ""))
            if len(unknown) > MAX_LISTED:
                named.append(f"and {len(unknown) - MAX_LISTED:,} more")
            raise SettingError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(named)}; known "
                              f"keys: {', '.join(kinds)}")
        checked = {}
        for key, value in values.items():
            checked[key] = _typed(key, value, kinds[key], source)
        config = cls(**checked)
        try:
            config.check()
        except MatnetError as err:
            raise SettingError(f"{source}: {err}") from None
        return config


_REPR = reprlib.Repr()      # (keyword arguments only from Python 3.12)
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 2, 60, 60, 8, 4


def _short(value) -> str:
    """``value`` as a short repr: nested values, long strings and long lists elided (an error stays one line)."""
    return _REPR.repr(value)


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list[int]: "a list of integers"}


def _typed(key, value, kind, source):
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        list[int]: isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
    }[kind]
    if not ok:
        raise SettingError(f"{source}: key '{key}' must be {_KIND_NAMES[kind]}, got {_short(value)}")
    return float(value) if kind is float else value


def load_config(path: str | Path) -> dict:
    """The key-value pairs of a TOML file, checked against TrainConfig (returned as a dict of overrides)."""
    values = read_toml(path)
    TrainConfig.from_dict(values, str(path))  # the checks, with the file's name in every message
    return values


def config_toml(config: TrainConfig) -> str:
    names = [f.name for f in fields(config)]
    values = asdict(config)
    return tomli_w.dumps({name: values[name] for name in names})
