"""A model file's format, and its writer: weights in ``NAME.npz`` (every parameter and buffer, one array each) and
the architecture in ``NAME.json`` (format, version, name, input shape, dtype, layers, classes, preprocessing, the
loss it is trained under, and every parameter's name and shape, which loading checks the weights against).

Model files are *written* here (``Sequential.save`` calls ``write_model``) and *read* in :mod:`matnet.model_file`.
Reading builds a Sequential, so it imports :mod:`matnet.model`; writing takes any network with the Sequential's
attributes and imports neither, so ``save`` can call it without an import circle (tests/test_imports.py forbids
them, function-level imports included).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from matnet.backend import to_numpy
from matnet.fileio import atomic_path, named_output, write_json
from matnet.nn.registry import layer_spec

__all__ = ["FORMAT", "VERSION", "model_paths", "write_model"]

FORMAT, VERSION = "matnet-model", 1   # a model file's "format" and "version" entries (matnet.model_file reads them)


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``x`` or ``x.npz`` or ``x.json`` -> (``x.npz``, ``x.json``). (Run folders: see ``matnet.runfolder``.)"""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def write_model(model, path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``model`` (a :class:`matnet.model.Sequential`) as ``path.npz`` and ``path.json``, each atomically, the
    weights first so that a description always has its weights; returns the two paths. A model matnet saved there
    before is replaced (a notebook cell runs again); any other file of those names only with ``force=True`` (see
    :mod:`matnet.fileio`)."""
    npz, meta = model_paths(path)
    for target in (npz, meta):
        named_output(target, force=force, made_by_matnet=lambda _: _is_saved_model(meta))
    arrays = {name: to_numpy(a) for name, a in {**model.parameters.arrays(), **model.buffers()}.items()}
    with atomic_path(npz, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    write_json(meta, {
        "format": FORMAT,
        "version": VERSION,
        "name": model.name,
        "input_shape": list(model.input_shape),
        "dtype": str(model.dtype),
        "layers": [layer_spec(layer) for layer in model.layers],
        "classes": list(model.classes),
        "preprocessing": model.preprocessing,
        "loss": model.loss,        # what its outputs mean (Network.probabilities); files without it: cross-entropy
        "parameters": {name: list(shape) for name, shape in zip(model.parameters.names, model.parameters.shapes)},
    })
    return npz, meta


def _is_saved_model(meta: Path) -> bool:
    """Whether ``meta`` is the description of a model matnet saved (its JSON names matnet's model format)."""
    try:
        if meta.stat().st_size > 10_000_000:
            return False
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False
