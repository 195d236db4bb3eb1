"""Everything a run folder holds, read once, with a list of what is missing (a report shows what is there)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matnet.data.datasets import load_dataset
from matnet.data.prepare import model_inputs
from matnet.errors import MatnetError
from matnet.model_file import load_model
from matnet.run import PREDICTIONS, save_predictions

__all__ = ["RunData", "load_run"]


@dataclass
class RunData:
    folder: Path
    config: dict | None = None
    summary: dict | None = None
    metrics: list[dict] = field(default_factory=list)
    steps: dict | None = None
    layer_stats: dict | None = None
    model: object = None
    probabilities: np.ndarray | None = None   # (N, C) on the test set
    labels: np.ndarray | None = None          # (N,)
    missing: list[str] = field(default_factory=list)
    _dataset: object = None

    @property
    def name(self) -> str:
        return self.folder.resolve().name

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

    def test_images(self) -> np.ndarray | None:
        """The test images (uint8) from the cache, or None when the dataset is not there."""
        if self._dataset is None and self.dataset_name:
            try:
                self._dataset = load_dataset(self.dataset_name, download=False)
            except MatnetError:
                return None
        return None if self._dataset is None else self._dataset.test_images


def _read(path: Path, parse, missing: list, what: str):
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        missing.append(f"{what} ({path.name})")
    except (OSError, ValueError) as err:
        missing.append(f"{what} ({path.name} is unreadable: {err})")
    return None


def load_run(folder: str | Path, *, progress: bool = True) -> RunData:
    """Read a run folder. Test predictions missing from it are computed from the model and saved, if possible."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MatnetError(f"{folder}: no such run folder")
    run = RunData(folder)
    miss = run.missing
    run.config = _read(folder / "config.toml", tomllib.loads, miss, "the configuration")
    run.summary = _read(folder / "summary.json", json.loads, miss, "the final figures")
    metrics = _read(folder / "metrics.jsonl", lambda t: [json.loads(line) for line in t.splitlines() if line], miss,
                    "the per-epoch metrics")
    run.metrics = metrics or []
    run.steps = _read(folder / "steps.json", json.loads, miss, "the per-step losses")
    run.layer_stats = _read(folder / "layer_stats.json", json.loads, miss, "the layer statistics")
    try:
        run.model = load_model(folder / "model")
    except MatnetError as err:
        miss.append(f"the final model ({err})")
    path = folder / PREDICTIONS
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                run.probabilities, run.labels = stored["probabilities"], stored["labels"]
        except (OSError, KeyError, ValueError, EOFError) as err:
            miss.append(f"the test predictions ({PREDICTIONS} is unreadable: {err})")
    elif run.model is not None and run.test_images() is not None:
        if progress:
            print(f"evaluating {run.name} on the {run.dataset_name} test set", flush=True)
        data = run._dataset
        run.probabilities = run.model.predict_proba(model_inputs(data.test_images, run.model.input_shape,
                                                                 run.model.dtype))
        run.labels = data.test_labels.astype(np.int64)
        save_predictions(path, run.probabilities, run.labels)
    else:
        miss.append("the test predictions (no final model, or its dataset is not cached)")
    return run
