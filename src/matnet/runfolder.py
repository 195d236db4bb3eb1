"""A run folder: the files one training run leaves, their names, reading them back, and every write into them.

    runs/NAME/
        config.toml       the resolved configuration (every value, defaults included)
        metrics.jsonl     one JSON object per epoch: loss, acc, val_loss, val_acc, lr, seconds
        model.npz/.json   the final model (see matnet.model_file)
        best.npz/.json    the model of the epoch with the lowest validation loss
        checkpoint.npz    the whole training state, after every epoch and where Ctrl-C stopped it
        steps.json        every step's loss and learning rate          (see matnet.train.callbacks.StepLog)
        layer_stats.json  per-layer norms, update ratios, dead ReLUs    (see matnet.train.callbacks.LayerStats)
        diagnosis.json    what went wrong while it trained, if anything  (see matnet.train.diagnose)
        predictions.npz   the test set's probabilities and labels, for the figures and the report
        summary.json      test_accuracy, test_loss, epochs run, seconds, parameter count
        figures/*.png     the report's figures
        report.html       one self-contained page with all of them

No other module spells these names. Every write is atomic (a temporary file renamed over the target, see
``matnet.fileio``) and stays inside the folder: a path that a symbolic link leads out of it is refused. A new run
never replaces an existing one unless asked to (``create(force=True)``), and then only the run's own files go.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matnet.data.datasets import load_dataset, read_npz
from matnet.errors import MatnetError
from matnet.config_file import MAX_CONFIG_BYTES, parse_toml
from matnet.fileio import (atomic_path, read_regular, refuse_special_target, remove_leftovers, write_json,
                           write_text)
from matnet.model_file import load_model as load_model_file
from matnet.model_file import model_paths, save_model
from matnet.terminal import shown

__all__ = ["RunFolder", "RunData", "read_run", "load_model", "find_run", "warn", "not_an_epoch"]

CONFIG, METRICS, STEPS, LAYER_STATS, SUMMARY = "config.toml", "metrics.jsonl", "steps.json", "layer_stats.json", \
    "summary.json"
MODEL, BEST = "model", "best"                      # model files: NAME.npz + NAME.json
CHECKPOINT, PREDICTIONS = "checkpoint.npz", "predictions.npz"
FIGURES, REPORT = "figures", "report.html"
DIAGNOSIS = "diagnosis.json"
# The most each run file may hold, checked before it is read (a run of 30 epochs writes a few hundred kB in all;
# steps.json of 100 epochs at batch size 16 about 8 MB): a file made huge to exhaust memory is refused in one line.
MAX_TEXT_BYTES = {CONFIG: MAX_CONFIG_BYTES, SUMMARY: 2**20, METRICS: 2**26, STEPS: 2**28, LAYER_STATS: 2**26,
                  DIAGNOSIS: 2**22}
MAX_PREDICTION_BYTES = 2**28      # MNIST's: 10,000 x 10 float32 and 10,000 labels, under 0.5 MB


class RunFolder:
    """The files of the run in ``path``: ``folder.write_summary(...)``, ``folder.read_metrics()``, ..."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def is_run(self) -> bool:
        """Whether the folder holds any of the files a run writes (a folder of the user's images does not)."""
        return any(path.is_file() for path in self._run_files())

    def _run_files(self) -> list[Path]:
        """The files a run writes, where they would be (the figures aside)."""
        models = [p for which in (MODEL, BEST) for p in model_paths(self.path / which)]
        return [self.path / name for name in (CONFIG, METRICS, STEPS, LAYER_STATS, SUMMARY, CHECKPOINT,
                                              PREDICTIONS, REPORT, DIAGNOSIS)] + models

    # --- paths -------------------------------------------------------------------------------------------
    def _inside(self, *parts: str) -> Path:
        """``path/parts``, for writing; refused when a symbolic link leads its folder out of the run folder."""
        target = self.path.joinpath(*parts)
        if not target.parent.resolve().is_relative_to(self.path.resolve()):
            raise MatnetError(f"{target.parent} leads out of the run folder {self.path} (a symbolic link); "
                              "matnet writes only inside it")
        return target

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoint(self) -> Path:
        return self._inside(CHECKPOINT)

    def model_file(self, which: str = MODEL) -> Path:
        """The stem of the final (``model``) or best (``best``) model's ``.npz`` + ``.json``."""
        if which not in (MODEL, BEST):
            raise ValueError(f"a run folder holds the models {MODEL!r} and {BEST!r}, not {which!r}")
        return self.path / which

    def figure(self, name: str) -> Path:
        """Where the figure ``name`` is drawn: ``figures/NAME.png`` (the folder is made if needed; a file where it
        should be is an OSError, ENOTDIR, naming it)."""
        path = self._inside(FIGURES, f"{name}.png")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:     # mkdir's word for "something that is not a folder is there"
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
        return path

    # --- writes ------------------------------------------------------------------------------------------
    def check_new(self, *, force: bool = False) -> None:
        """Refuse, before any work, to start a new run where one exists (unless ``force``) or where a file is."""
        for path in (self.path, *self.path.parents):
            if path.exists() and not path.is_dir():
                raise MatnetError(f"{path} is a file, not a folder: choose another --out")
        for path in self._run_files():
            refuse_special_target(path)         # a device or FIFO is never replaced, --force or not
        if self.is_run() and not force:
            raise MatnetError(f"{self.path} already holds a run: continue it with 'matnet train --resume "
                              f"{self.path}', choose another --out, or add --force to replace it")

    def create(self, *, force: bool = False) -> None:
        """Make the folder of a new run. An existing run in it is refused unless ``force``, which removes that
        run's files (and figures) first; nothing else in the folder is touched."""
        self.check_new(force=force)
        for path in self._run_files():
            if path.is_file() or path.is_symlink():
                path.unlink()
            remove_leftovers(path)
        figures = self.path / FIGURES
        if figures.is_dir() and not figures.is_symlink():
            for png in figures.glob("*.png"):
                png.unlink()
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, toml_text: str) -> None:
        write_text(self._inside(CONFIG), toml_text)

    def write_metrics(self, epochs: list[dict]) -> None:
        write_text(self._inside(METRICS), "".join(json.dumps(m) + "\n" for m in epochs))

    def write_steps(self, record: dict) -> None:
        write_text(self._inside(STEPS), json.dumps(record))

    def write_layer_stats(self, record: dict) -> None:
        write_text(self._inside(LAYER_STATS), json.dumps(record))

    def write_diagnosis(self, findings: list[dict]) -> None:
        """The diagnosis findings (a list of dicts; empty: checked, nothing wrong)."""
        write_text(self._inside(DIAGNOSIS), json.dumps(findings, indent=1))

    def write_summary(self, summary: dict) -> None:
        write_json(self._inside(SUMMARY), summary)

    def save_model(self, model, which: str = MODEL) -> None:
        self._inside(which)
        save_model(model, self.model_file(which))

    def save_best(self, model) -> None:
        self.save_model(model, BEST)

    def write_predictions(self, probabilities, labels) -> None:
        """probabilities: (N, C) on the test set; labels: (N,)."""
        with atomic_path(self._inside(PREDICTIONS), suffix=".npz") as tmp:
            np.savez(tmp, probabilities=np.asarray(probabilities, np.float32), labels=np.asarray(labels, np.int64))

    def write_report(self, html: str) -> Path:
        path = self._inside(REPORT)
        write_text(path, html)
        return path

    # --- reads (FileNotFoundError when the file is not there, MatnetError when it is unreadable) ------------
    def _read(self, name: str, parse):
        path = self.path / name
        try:
            text = read_regular(path, MAX_TEXT_BYTES[name], what=f"run's {name}").decode("utf-8")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as err:
            raise MatnetError(f"{path} is unreadable: {err}") from None
        try:
            return parse(text)
        except (ValueError, RecursionError) as err:     # RecursionError: JSON nested thousands of levels deep
            raise MatnetError(f"{path} is unreadable: {err}") from None

    def read_config(self) -> dict:
        return self._read(CONFIG, lambda text: parse_toml(text, self.path / CONFIG))

    def read_summary(self) -> dict:
        return self._read(SUMMARY, json.loads)

    def read_metrics(self) -> list[dict]:
        """One dict per epoch. A last line cut short (a crash while it was written) is dropped; any other line
        that is not an epoch's record (``not_an_epoch``: JSON, an object, a whole ``epoch``, a finite ``loss``) is
        skipped, with a warning on stderr naming the file and the line: the other epochs are still read."""
        path = self.path / METRICS

        def parse(text):
            lines = text.splitlines()
            epochs = []
            for k, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    epoch = json.loads(line)
                except (ValueError, RecursionError) as err:   # RecursionError: arrays nested thousands deep
                    err = "nested too deep" if isinstance(err, RecursionError) else err
                    if k == len(lines) - 1 and not text.endswith("\n"):
                        break
                    warn(f"{path}: line {k + 1} is not JSON ({err}); skipped it, read the other lines")
                    continue
                why = not_an_epoch(epoch)
                if why:
                    warn(f"{path}: line {k + 1} is not an epoch's record ({why}); skipped it, read the other lines")
                    continue
                epochs.append(epoch)
            return epochs
        return self._read(METRICS, parse)

    def read_steps(self) -> dict:
        return self._read(STEPS, json.loads)

    def read_layer_stats(self) -> dict:
        return self._read(LAYER_STATS, json.loads)

    def read_diagnosis(self) -> list[dict]:
        return self._read(DIAGNOSIS, json.loads)

    def read_predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, C), labels (N,)) of the test set: at most MAX_PREDICTION_BYTES as the arrays'
        headers declare them, checked before anything is read."""
        path = self.path / PREDICTIONS
        arrays = read_npz(path, MAX_PREDICTION_BYTES, "predictions file")
        try:
            probabilities, labels = arrays["probabilities"], arrays["labels"]
        except KeyError as err:
            raise MatnetError(f"{path} is unreadable: no array {err}") from None
        if probabilities.ndim != 2 or labels.ndim != 1 or len(labels) != len(probabilities):
            raise MatnetError(f"{path} is unreadable: probabilities {probabilities.shape} and labels {labels.shape} "
                              f"are not (N, C) and (N,)")
        return probabilities, labels

    def load_model(self, which: str = MODEL, *, max_params: int | None = None):
        return load_model_file(self.model_file(which), max_params=max_params)


def warn(message: str) -> None:
    """One ``matnet: warning:`` line on stderr: something was read around, not refused."""
    print(f"matnet: warning: {shown(message)}", file=sys.stderr, flush=True)


MAX_EPOCH = 10**9
OPTIONAL_METRICS = ("acc", "val_loss", "val_acc", "lr", "seconds")   # what the trainer adds to epoch and loss


def _finite(value) -> bool:
    """A number within a float's range (an int of 400 digits is not: a plot cannot take it)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e300 \
        and math.isfinite(value)


def not_an_epoch(record) -> str:
    """Why ``record`` (a line of metrics.jsonl, parsed) is not an epoch's record as the trainer writes it, or "".
    It is a JSON object with a whole ``epoch`` from 1 to MAX_EPOCH and a finite ``loss``; ``acc``, ``val_loss``,
    ``val_acc``, ``lr`` and ``seconds`` may be absent, and are finite numbers where present. A NaN or infinite
    loss is no epoch's record: the trainer stops at such a loss and never writes it (and no matnet output holds
    NaN), so it is a file written by hand or damaged."""
    if not isinstance(record, dict):
        return "a JSON object"
    for key in ("epoch", "loss"):
        if key not in record:
            return f"no '{key}'"
    epoch = record["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= MAX_EPOCH:
        return f"'epoch' must be a whole number from 1 to {MAX_EPOCH:,}, got {_short(epoch)}"
    for key in ("loss", *OPTIONAL_METRICS):
        if key in record and not _finite(record[key]):
            return f"'{key}' must be a finite number, got {_short(record[key])}"
    return ""


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def find_run(path: str | Path) -> RunFolder | None:
    """The run folder that ``path`` (a run folder, or a model file inside one) belongs to, or None."""
    path = Path(path)
    folder = RunFolder(path if path.is_dir() else path.parent)
    return folder if folder.is_run() else None


def load_model(path: str | Path, *, max_params: int | None = None):
    """A model from a run folder (its final model) or a model file (``x.npz``, ``x.json`` or ``x``).
    ``max_params`` raises the limit on the size of model a file may declare (see ``matnet.model_file``)."""
    path = Path(path)
    if path.is_dir():
        if not model_paths(path / MODEL)[1].is_file():
            raise MatnetError(f"{path}: a folder with no model in it (a run folder holds {MODEL}.json and "
                              f"{MODEL}.npz)")
        return RunFolder(path).load_model(max_params=max_params)
    if not any(p.exists() for p in (path, *model_paths(path))):
        raise MatnetError(f"{path}: no run folder or model file of that name")
    if path.is_file() and path.suffix not in (".npz", ".json"):
        raise MatnetError(f"{path}: not a matnet model (a model is NAME.npz + NAME.json, or a run folder)")
    return load_model_file(path, max_params=max_params)


# --- a whole run, read once ---------------------------------------------------------------------------------
@dataclass
class RunData:
    """Everything a run folder holds, with a list of what is missing (a report shows what is there)."""

    folder: RunFolder
    config: dict | None = None
    summary: dict | None = None
    metrics: list[dict] = field(default_factory=list)
    steps: dict | None = None
    layer_stats: dict | None = None
    diagnosis: list[dict] | None = None      # None: the run was not diagnosed while it trained
    model: object = None
    probabilities: np.ndarray | None = None   # (N, C) on the test set
    labels: np.ndarray | None = None          # (N,)
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)   # of ``missing``, what is there but could not be read
    _dataset: object = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def classes(self) -> tuple[str, ...]:
        if self.model is not None:
            return tuple(self.model.classes)
        return tuple(str(i) for i in range(self.probabilities.shape[1]))

    @property
    def dataset_name(self) -> str | None:
        if self.config and "dataset" in self.config:
            return self.config["dataset"]
        return self.model.preprocessing.get("dataset") if self.model is not None else None

    def dataset(self):
        """The run's dataset from the local cache (read once), or None when it is not there (never downloaded)."""
        if self._dataset is None and self.dataset_name:
            try:
                self._dataset = load_dataset(self.dataset_name, download=False)
            except MatnetError:
                return None
        return self._dataset

    def test_images(self) -> np.ndarray | None:
        """The test images (uint8) from the cache, or None when the dataset is not there."""
        data = self.dataset()
        return None if data is None else data.test_images


def _collect(read, what: str, name: str, missing: list, unreadable: list | None = None):
    """What ``read()`` gives; None, with ``what`` added to ``missing``, when the file is absent or unreadable (then
    added to ``unreadable`` too, with why)."""
    try:
        return read()
    except FileNotFoundError:
        missing.append(f"{what} ({name})")
    except MatnetError as err:
        missing.append(f"{what} ({err})")
        if unreadable is not None:
            unreadable.append(f"{what} ({err})")
    return None


def read_run(path: str | Path) -> RunData:
    """Read a run folder: every file there is, and in ``missing`` what is absent or unreadable. Only reads (a
    report computes test predictions the folder lacks: ``matnet.reports.report.fill_predictions``)."""
    folder = RunFolder(path)
    if folder.path.is_file():
        raise MatnetError(f"{folder.path} is a file, not a run folder")
    if not folder.path.is_dir():
        raise MatnetError(f"{folder.path}: no such run folder")
    if not folder.is_run():
        raise MatnetError(f"{folder.path}: not a run folder (none of the files 'matnet train' writes is there)")
    run = RunData(folder)
    miss = run.missing
    run.config = _collect(folder.read_config, "the configuration", CONFIG, miss)
    run.summary = _collect(folder.read_summary, "the final figures", SUMMARY, miss, run.unreadable)
    run.metrics = _collect(folder.read_metrics, "the per-epoch metrics", METRICS, miss, run.unreadable) or []
    run.steps = _collect(folder.read_steps, "the per-step losses", STEPS, miss)
    run.layer_stats = _collect(folder.read_layer_stats, "the layer statistics", LAYER_STATS, miss)
    run.diagnosis = _collect(folder.read_diagnosis, "the diagnosis", DIAGNOSIS, [])  # older runs have none
    try:
        run.model = folder.load_model()
    except MatnetError as err:
        miss.append(f"the final model ({err})")
    predictions = _collect(folder.read_predictions, "the test predictions", PREDICTIONS, miss)
    if predictions is not None:
        run.probabilities, run.labels = predictions
    return run
