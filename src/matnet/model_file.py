"""Model files: weights in ``NAME.npz`` (one array per parameter, loaded with ``allow_pickle=False``) and the
architecture in ``NAME.json``: format version, layer list, input shape, class names, preprocessing.

Loading rebuilds the layers from the JSON, then checks every array against them: a missing, extra or misshapen
array, a wrong format version or a damaged file is an error that names what is wrong.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from matnet.backend import to_numpy, xp
from matnet.errors import MatnetError
from matnet.fileio import atomic_path, write_json
from matnet.model import Sequential
from matnet.nn.registry import build_layer, layer_spec

__all__ = ["FORMAT", "VERSION", "save_model", "load_model", "model_paths"]

FORMAT, VERSION = "matnet-model", 1


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``x`` or ``x.npz`` or ``x.json`` -> (``x.npz``, ``x.json``). (Run folders: see ``matnet.runfolder``.)"""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def save_model(model: Sequential, path: str | Path) -> tuple[Path, Path]:
    """Write ``path.npz`` and ``path.json`` atomically (the weights first, so a JSON always has its weights)."""
    npz, meta = model_paths(path)
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
        "parameters": {name: list(shape) for name, shape in zip(model.parameters.names, model.parameters.shapes)},
    })
    return npz, meta


def load_model(path: str | Path) -> Sequential:
    """The model saved as ``path.npz`` + ``path.json`` (``path`` may name either file)."""
    if Path(path).is_dir():
        raise MatnetError(f"{path} is a folder, not a model file (matnet.load_model opens run folders too)")
    npz, meta_path = model_paths(path)
    for p in (meta_path, npz):
        if not p.is_file():
            raise MatnetError(f"{p}: no such model file")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MatnetError(f"{meta_path}: not a readable model description ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MatnetError(f"{meta_path}: not a matnet model description")
    if meta.get("version") != VERSION:
        raise MatnetError(f"{meta_path}: model format version {meta.get('version')!r}; this matnet reads {VERSION}")
    try:
        layers = [build_layer(spec) for spec in meta["layers"]]
        model = Sequential(layers, input_shape=tuple(meta["input_shape"]), classes=meta.get("classes"),
                           preprocessing=meta.get("preprocessing"), dtype=np.dtype(meta.get("dtype", "float32")),
                           name=meta.get("name", "sequential"))
    except KeyError as err:
        raise MatnetError(f"{meta_path}: unknown or incomplete layer entry ({err})") from None
    except (TypeError, ValueError) as err:
        raise MatnetError(f"{meta_path}: invalid architecture ({err})") from None
    try:
        with np.load(npz, allow_pickle=False) as stored:
            weights = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise MatnetError(f"{npz}: damaged weights file ({err})") from None
    live = {**model.parameters.arrays(), **model.buffers()}
    expected = {name: tuple(array.shape) for name, array in live.items()}
    missing = [n for n in expected if n not in weights]
    extra = [n for n in weights if n not in expected]
    if missing:
        raise MatnetError(f"{npz}: missing array(s) {', '.join(missing)}")
    if extra:
        raise MatnetError(f"{npz}: unexpected array(s) {', '.join(extra)}")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise MatnetError(f"{npz}: array {name} has shape {tuple(weights[name].shape)}, the architecture "
                              f"needs {shape}")
        live[name][...] = xp.asarray(weights[name])
    return model
