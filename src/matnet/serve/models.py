"""The models a server holds: each loaded once, with its run's figures, and only read from then on.

Inference touches no shared state (a layer's evaluation-mode ``forward`` writes nothing to it; gradient x input
runs on a private copy of the layers, see ``matnet.serve.layers.attribution``), so any number of requests use one
network at once, with no lock.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np

from matnet.backend import to_device, to_numpy
from matnet.data.datasets import load_dataset
from matnet.data.images import unsure_warning
from matnet.errors import MatnetError
from matnet.verdicts import verdicts
from matnet.fileio import first_free
from matnet.runfolder import find_run, load_model
from matnet.data.prepare import model_inputs
from matnet.nn.activations import ReLU
from matnet.serve.layers import attribution, dead_units, encode, explainable, layer_table, traced_outputs

__all__ = ["ServedModel", "load_models", "TestImages", "FIELD_SIZE", "CHEAP_SECONDS", "DEAD_SAMPLE"]

CHEAP_SECONDS = 0.0002   # answered on the event loop when one forward pass is this fast (measured on one core:
                         # the default MLP 0.013 ms, the cnn preset 0.27 ms)
FIELD_SIZE = 28 * 28     # the page and the API make 28x28 images; a model must take 784 values per sample
DEAD_SAMPLE = 1000       # dead ReLU units: 0 for every one of the first this many training images


class ServedModel:
    """One network, its name in the API, where it came from, and its run's summary (test accuracy) if any."""

    def __init__(self, name: str, model, *, path: str | Path | None = None, summary: dict | None = None):
        if int(np.prod(model.input_shape)) != FIELD_SIZE:
            raise MatnetError(f"{path or name} takes inputs of shape {tuple(model.input_shape)}; matnet serve makes "
                              f"28x28 images")
        self.name = name
        self.model = model
        self.path = None if path is None else str(path)
        self.summary = summary or {}
        self.layers = layer_table(model)
        self.explainable = explainable(model)
        self.cheap = self._measure_cheap()   # at load, not on a request
        self._dead_lock = threading.Lock()
        self._dead: dict | None = None

    @classmethod
    def open(cls, path: str | Path, name: str | None = None) -> "ServedModel":
        """A run folder (its final model and ``summary.json``) or a model file; MatnetError when it is neither.
        The files are only read."""
        path = Path(path)
        model = load_model(path)
        run = find_run(path)
        summary = None
        if run is not None:
            try:
                summary = run.read_summary()
            except (FileNotFoundError, MatnetError):
                summary = None
        default = (run.name if run is not None and path.is_dir() else path.with_suffix("").name) or "model"
        return cls(name or default, model, path=path, summary=summary)

    @property
    def file_name(self) -> str | None:
        """The model file's or run folder's name, without the folders above it: what the API shows (a client
        has no business knowing the server's paths)."""
        return None if self.path is None else Path(self.path).name

    @property
    def kind(self) -> str:
        """``mlp``, ``cnn`` or ``resnet``, from the layers."""
        types = {row["type"] for row in self.layers}
        return "resnet" if "Residual" in types else "cnn" if "Conv2D" in types else "mlp"

    def describe(self, detail: bool = False) -> dict:
        """What ``GET /api/models`` lists (``detail``: and ``GET /api/models/{name}`` adds: the layers and the
        Keras-style summary)."""
        model = self.model
        info = {"name": self.name, "kind": self.kind, "path": self.file_name, "input_shape": list(model.input_shape),
                "classes": list(model.classes), "parameters": model.num_params,
                "test_accuracy": self.summary.get("test_accuracy"), "test_loss": self.summary.get("test_loss"),
                "dataset": model.preprocessing.get("dataset"), "explainable": self.explainable}
        if detail:
            info["layers"] = self.layers
            info["summary"] = model.summary_text()
            info["dead_units"] = self.dead_units()
        return info

    def dead_units(self) -> dict | None:
        """The dead ReLU units (``matnet.serve.layers.dead_units``) of every ReLU layer after a Dense layer, found on
        the first DEAD_SAMPLE training images of the model's dataset: ``{"images": N, "dataset", "units":
        {relu_name: [unit, ...]}}``. None when the network has no such layer, or the dataset is not in the local
        cache (never downloaded for it). Measured on first use, then kept (the model is only read)."""
        dataset = self.model.preprocessing.get("dataset")
        if dataset is None or not any(isinstance(layer, ReLU) for layer in self.model.all_layers()):
            return None
        with self._dead_lock:
            if self._dead is None:
                try:
                    images = load_dataset(dataset, download=False, progress=False).train_images[:DEAD_SAMPLE]
                except (MatnetError, OSError):
                    return None
                x = model_inputs(images, tuple(self.model.input_shape), self.model.dtype)
                units = dead_units(self.model, x)
                self._dead = {"images": len(images), "dataset": dataset, "units": units} if units else {}
            return self._dead or None

    def layer(self, name: str, encoding: str = "list") -> dict | None:
        """A layer's row of the table and its parameters (``W``, ``b``, ...) as encoded arrays; None if no layer
        has that name."""
        for row in self.layers:
            if row["name"] == name:
                break
        else:
            return None
        layer = next(layer for layer in self.model.all_layers() if layer.name == name)
        arrays = {key: encode(value, encoding) for key, value in layer.params.items()}
        buffers = {key: encode(value, encoding) for key, value in layer.buffers.items()}
        return {**row, "arrays": arrays, "buffers": buffers}

    def _measure_cheap(self) -> bool:
        """``cheap``: whether one image takes well under a millisecond: the server then answers a JSON request on
        its event loop, without the round trip through a worker thread (see ``matnet.serve.routes.predict``). Decided by
        measuring (the fastest of five forward passes of a blank image, under CHEAP_SECONDS), not by the kind of
        network: an MLP of 150,000 ReLU layers has few parameters but would block the loop. The first pass is often
        slow (cold caches, a busy machine), so only a pass ten times too slow ends the measuring early."""
        x = to_device(np.zeros((1, *self.model.input_shape), dtype=self.model.dtype))
        fastest = math.inf
        for _ in range(5):
            started = time.perf_counter()
            self.model.forward(x)
            fastest = min(fastest, time.perf_counter() - started)
            if fastest > 10 * CHEAP_SECONDS:      # no need to measure a slow one five times
                break
        return fastest < CHEAP_SECONDS

    def predict(self, field: np.ndarray, *, layers: bool = False, explain: bool = False,
                encoding: str = "list") -> dict:
        """field: the (28, 28) image in [0, 1] -> ``{label, class_index, probabilities, classes}``, with
        ``layers`` (every layer's output, see ``layer_table``) and ``attribution`` (gradient x input of the
        predicted class, (28, 28)) when asked. ValueError for ``explain`` on a network with BatchNorm. Safe to
        call from many threads at once."""
        model = self.model
        if explain and not self.explainable:
            raise ValueError(f"{self.name} has BatchNorm layers: gradient x input is offered for networks "
                             f"without them (an MLP)")
        x = to_device(np.ascontiguousarray(field, dtype=model.dtype).reshape(1, *model.input_shape))
        result = {}
        if layers:
            result["layers"], output = traced_outputs(model, x, encoding)
        else:   # x is a checked float32 image already: the forward pass alone, not predict_proba's checks
            output = model.forward(x)
        verdict = verdicts(to_numpy(model.probabilities(output)), model.classes, self.name)[0]
        if explain:
            result["attribution"] = encode(attribution(model, x, verdict["class_index"]).reshape(field.shape),
                                           encoding)
        return {"model": self.name, **verdict, "classes": list(model.classes), **result}

    def number(self, read: list[tuple[dict, np.ndarray, np.ndarray]], encoding: str = "list") -> dict:
        """The digits ``matnet.data.images.read_number`` read with this model's ``predict_proba`` -> ``{model,
        number, digits: [{box, label, class_index, probabilities, input}], classes}``, with the ``warning`` of
        ``unsure_warning`` when a digit was read with little confidence (as ``matnet predict --multi`` answers)."""
        answers = verdicts(np.stack([probabilities for _, _, probabilities in read]), self.model.classes, self.name)
        digits = [{"box": box, **answer, "input": encode(field, encoding)}
                  for (box, field, _), answer in zip(read, answers)]
        result = {"model": self.name, "number": "".join(d["label"] for d in digits), "digits": digits,
                  "classes": list(self.model.classes)}
        if warning := unsure_warning([max(d["probabilities"]) for d in digits]):
            result["warning"] = warning
        return result


def load_models(paths: list[str | Path]) -> list[ServedModel]:
    """Each path opened once; names made unique (``demo``, ``demo-2``, ...) in the order given."""
    served, taken = [], set()
    for path in paths:
        one = ServedModel.open(path)
        one.name = first_free(one.name, taken.__contains__)
        taken.add(one.name)
        served.append(one)
    return served


class TestImages:
    """The test set of a dataset from the local cache, read on first use (never downloaded by a request)."""

    __test__ = False   # not a pytest test class, despite the name

    def __init__(self):
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]] = {}

    def get(self, dataset: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """(images (N, 28, 28) uint8, labels (N,), class names); MatnetError when the dataset is not cached."""
        with self._lock:
            if dataset not in self._sets:
                data = load_dataset(dataset, download=False, progress=False)
                self._sets[dataset] = (data.test_images, data.test_labels, tuple(data.classes))
            return self._sets[dataset]

    def pick(self, dataset: str, *, index: int | None = None, label: int | None = None,
             rng: np.random.Generator | None = None) -> dict:
        """``{"index", "label", "class_index", "image"}``: test image ``index``, or a random one (of the class
        ``label`` when given); ``image`` as 28 rows of values in [0, 1]. IndexError / LookupError when there is
        no such image."""
        images, labels, classes = self.get(dataset)
        if index is None:
            rng = rng or np.random.default_rng()
            pool = np.flatnonzero(labels == label) if label is not None else np.arange(len(labels))
            if not len(pool):
                raise LookupError(f"the {dataset} test set has no image of class {label}")
            index = int(rng.choice(pool))
        if not 0 <= index < len(images):
            raise IndexError(f"the {dataset} test set has {len(images):,} images (0 to {len(images) - 1}); "
                             f"got index {index}")
        image = images[index].astype(np.float64) / 255.0
        k = int(labels[index])
        return {"dataset": dataset, "index": int(index), "label": str(classes[k]) if k < len(classes) else str(k),
                "class_index": k, "image": np.round(image, 4).tolist()}
