"""Model files: weights in ``NAME.npz`` (one array per parameter, loaded with ``allow_pickle=False``) and the
architecture in ``NAME.json``: format version, layer list, input shape, dtype, class names, preprocessing, loss, and
``parameters``, every parameter's name and shape.

Loading trusts neither file. Before anything is allocated: the JSON's size is bounded (``MAX_JSON_BYTES``); the
parameter count it declares is held to a limit (``MAX_PARAMS``, raised by ``max_params=`` or ``$MATNET_MAX_PARAMS``)
and to the arrays that each ``.npy`` header in the ``.npz`` declares, which must match what the archive stores (a
zip bomb otherwise); and the layers are sized from their specs before they are built (building allocates), with
each layer type's own sizing rule (:func:`matnet.nn.sizing.build_within`). After
building: the layers must make exactly the declared parameters, the class names must match the outputs, and every
weight must be a finite floating-point number. Each problem is a MatnetError that names the file and what is wrong.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from matnet.backend import xp
from matnet.data.datasets import npz_members, read_member
from matnet.errors import MatnetError
from matnet.fileio import open_regular
from matnet.model import Sequential
from matnet.model_format import FORMAT, VERSION, model_paths
from matnet.nn.layer import whole
from matnet.nn.losses import LOSSES
from matnet.nn.sizing import MAX_PARAMS, build_within, count_text, params_limit, too_many

__all__ = ["FORMAT", "VERSION", "MAX_PARAMS", "MAX_JSON_BYTES", "save_model", "load_model", "model_paths"]

# MAX_PARAMS, the one limit on a model's size, is matnet.nn.sizing's (held when a network is built, too).
MAX_JSON_BYTES = 10 * 2**20         # a model description is a few kB; read no more than this before parsing
MAX_CLASS_NAME = 100   # characters in one class name (Fashion-MNIST's longest has 11)
FLOAT_DTYPES = ("float16", "float32", "float64")


def save_model(model: Sequential, path: str | Path) -> tuple[Path, Path]:
    """``model.save(path)``: write ``path.npz`` and ``path.json``. The writer is
    :func:`matnet.model_format.write_model` (which explains why it lives there); this module reads the files back,
    checking everything."""
    return model.save(path)


def _read_description(meta_path: Path) -> dict:
    try:
        with open_regular(meta_path) as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as err:
        raise MatnetError(f"{meta_path}: not a readable model description ({err.strerror or err})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise MatnetError(f"{meta_path}: more than {MAX_JSON_BYTES:,} bytes, far more than a model description "
                          f"takes; not reading it")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise MatnetError(f"{meta_path}: not a readable model description ({type(err).__name__}: "
                          f"{str(err)[:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MatnetError(f"{meta_path}: not a matnet model description")
    if meta.get("version") != VERSION:
        raise MatnetError(f"{meta_path}: model format version {meta.get('version')!r}; this matnet reads {VERSION}")
    return meta


def _declared(meta: dict, meta_path: Path) -> dict[str, tuple[int, ...]]:
    """The ``parameters`` entry: name -> shape."""
    entry = meta.get("parameters")
    if not isinstance(entry, dict):
        raise MatnetError(f"{meta_path}: no 'parameters' entry (every parameter's name and shape), which matnet "
                          f"checks the weights against before loading them; save the model again")
    try:
        return {str(name): tuple(whole(n, f"the size of {name}") for n in shape) for name, shape in entry.items()}
    except (TypeError, ValueError) as err:
        raise MatnetError(f"{meta_path}: invalid 'parameters' entry ({err})") from None


def _compare(expected: dict, members: dict, source, exact: bool) -> None:
    """Every expected array among the members, with its shape; with ``exact``, no other member."""
    missing = [n for n in expected if n not in members]
    if missing:
        raise MatnetError(f"{source}: missing array(s) {', '.join(missing)}")
    extra = [n for n in members if n not in expected]
    if exact and extra:
        raise MatnetError(f"{source}: unexpected array(s) {', '.join(extra)}")
    for name, shape in expected.items():
        if members[name].shape != tuple(shape):
            raise MatnetError(f"{source}: array {name} has shape {members[name].shape}, the architecture needs "
                              f"{tuple(shape)}")


def load_model(path: str | Path, *, max_params: int | None = None) -> Sequential:
    """The model saved as ``path.npz`` + ``path.json`` (``path`` may name either file).

    Files declaring more than ``max_params`` parameters (default ``$MATNET_MAX_PARAMS``, else MAX_PARAMS) are
    refused before anything is allocated; see the module's docstring for every other check."""
    if Path(path).is_dir():
        raise MatnetError(f"{path} is a folder, not a model file (matnet.load_model opens run folders too)")
    limit = params_limit(max_params)
    npz, meta_path = model_paths(path)
    for p in (meta_path, npz):
        if not p.is_file():
            if p.exists() and not p.is_dir():
                open_regular(p)          # says what stands there (a named pipe, a socket, a device)
            raise MatnetError(f"{p}: no such model file")
    meta = _read_description(meta_path)
    declared = _declared(meta, meta_path)
    count = sum(math.prod(shape) for shape in declared.values())
    if count > limit:
        advice = "load_model(max_params=...) or MATNET_MAX_PARAMS if you trust the file"
        raise MatnetError(f"{meta_path}: declares {too_many(count, limit, advice)}")
    try:
        dtype = np.dtype(meta.get("dtype", "float32"))
    except (TypeError, ValueError) as err:
        raise MatnetError(f"{meta_path}: invalid dtype {meta.get('dtype')!r} ({err})") from None
    if dtype.name not in FLOAT_DTYPES:
        raise MatnetError(f"{meta_path}: dtype {dtype.name} is not a floating-point type ({', '.join(FLOAT_DTYPES)})")
    if npz.stat().st_size > 8 * 2 * limit + 2**24:  # float64 parameters and as many buffers, and the zip's overhead
        raise MatnetError(f"{npz}: {npz.stat().st_size:,} bytes, more than a model within the limit of {limit:,} "
                          f"parameters takes")
    file = open_regular(npz)
    try:
        archive = zipfile.ZipFile(file)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
        file.close()
        raise MatnetError(f"{npz}: damaged weights file ({err})") from None
    with file, archive:
        members = npz_members(archive, npz)
        _compare(declared, members, npz, exact=False)
        for member in members.values():
            if member.dtype.name not in FLOAT_DTYPES:
                raise MatnetError(f"{npz}: array {member.name} holds {member.dtype.name} values, not floating-point "
                                  f"weights")
        model = _build(meta, meta_path, dtype, count)
        made = dict(zip(model.parameters.names, model.parameters.shapes))
        if made != declared:
            differ = sorted(set(made.items()) ^ set(declared.items()))[:3]
            raise MatnetError(f"{meta_path}: the layers make parameters the 'parameters' entry does not declare "
                              f"(first differences: {', '.join(f'{n} {tuple(s)}' for n, s in differ)})")
        live = {**model.parameters.arrays(), **model.buffers()}
        _compare({name: tuple(array.shape) for name, array in live.items()}, members, npz, exact=True)
        for name, array in live.items():
            try:
                weights = read_member(archive, members[name])
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
                raise MatnetError(f"{npz}: damaged weights file (array {name}: {err})") from None
            bad = int(weights.size - np.count_nonzero(np.isfinite(weights)))
            if bad:
                raise MatnetError(f"{npz}: array {name} holds {bad:,} non-finite value(s) (NaN or infinity); "
                                  f"a model trained into NaN cannot predict")
            if name.endswith(".running_var") and (weights < 0).any():
                raise MatnetError(f"{npz}: array {name} holds {int((weights < 0).sum()):,} negative variance(s); "
                                  f"a variance is never below 0, so the file was not written by training")
            array[...] = xp.asarray(weights)
    return model


def _build(meta: dict, meta_path: Path, dtype: np.dtype, declared: int) -> Sequential:
    """The layers the description lists, sized from their configs before they are built (building allocates):
    they may make no more than the ``declared`` parameters, which the limit and the weights' headers bound."""

    def check(count, or_more):
        if count > declared:
            raise MatnetError(f"{meta_path}: its layers would make {count_text(count)} parameters or more, but its "
                              f"'parameters' entry declares {declared:,}")

    try:
        specs = meta["layers"]
        if not isinstance(specs, list):
            raise TypeError("'layers' must be a list")
        input_shape = tuple(whole(n, "input_shape") for n in meta["input_shape"])
        layers = build_within(specs, input_shape, check)
        classes, preprocessing = meta.get("classes"), meta.get("preprocessing")
        if preprocessing is not None and not isinstance(preprocessing, dict):
            raise MatnetError(f"{meta_path}: 'preprocessing' must be an object (name -> setting)")
        loss = meta.get("loss", "cross-entropy")      # files written before matnet recorded it
        if not isinstance(loss, str) or loss not in LOSSES:
            raise MatnetError(f"{meta_path}: 'loss' must be one of {', '.join(LOSSES)}, got {str(loss)[:60]!r}")
        model = Sequential(layers, input_shape=input_shape, preprocessing=preprocessing, dtype=dtype,
                           name=str(meta.get("name", "sequential")), loss=loss)
    except KeyError as err:
        raise MatnetError(f"{meta_path}: unknown or incomplete layer entry ({err})") from None
    except (TypeError, ValueError, AttributeError, IndexError, RecursionError) as err:
        raise MatnetError(f"{meta_path}: invalid architecture ({type(err).__name__}: {str(err)[:300]})") from None
    if classes is not None:
        outputs = len(model.classes)
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise MatnetError(f"{meta_path}: 'classes' must be a list of names (strings)")
        if any(len(c) > MAX_CLASS_NAME for c in classes):    # every answer repeats them: 1 MB names, 11 MB answers
            raise MatnetError(f"{meta_path}: a class name of {max(map(len, classes)):,} characters; a name may have "
                              f"at most {MAX_CLASS_NAME}")
        if len(classes) != outputs:
            raise MatnetError(f"{meta_path}: {len(classes)} class name(s) for {outputs} outputs; each output needs "
                              f"exactly one")
        model.classes = tuple(classes)
    return model
