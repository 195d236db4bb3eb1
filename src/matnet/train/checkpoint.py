"""Checkpoints: a trainer's whole state in one ``.npz`` (arrays, and a JSON ``meta`` entry for the rest), written
atomically, read with ``allow_pickle=False``. The trainer writes them itself (see ``Trainer(checkpoint=...)``).

The format has a version (``VERSION``); a checkpoint of another version is refused with one line, never half
read. Version 3 saves the optimizer's base rate and the rate in force; version 2 kept the best epoch in the
trainer's own state; version 1 in a callback's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from matnet.backend import to_numpy
from matnet.errors import MatnetError
from matnet.data.datasets import read_npz
from matnet.fileio import atomic_path
from matnet.nn.sizing import params_limit

__all__ = ["save_checkpoint", "load_checkpoint"]

FORMAT, VERSION = "matnet-checkpoint", 3


def save_checkpoint(path: str | Path, trainer) -> None:
    arrays, values = trainer.state_dict()
    meta = json.dumps({"format": FORMAT, "version": VERSION, **values})
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **{k: to_numpy(a) for k, a in arrays.items()}, meta=np.array(meta))


def max_checkpoint_bytes() -> int:
    """The most a checkpoint's arrays may declare: a network at the size limit, in float64, with an optimizer's
    two moments and as many buffers, and 1 MiB besides (the generators' states, the metadata)."""
    return 8 * 8 * params_limit() + 2**20


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    path = Path(path)
    try:
        arrays = read_npz(path, max_checkpoint_bytes(), "checkpoint")
    except FileNotFoundError:
        raise MatnetError(f"{path}: no checkpoint to resume from") from None
    try:
        meta = arrays.pop("meta")
        values = json.loads(str(meta)) if meta.dtype.kind == "U" and meta.ndim == 0 else None
        if not isinstance(values, dict):
            raise ValueError("its meta entry is not a JSON object")
    except (KeyError, ValueError, RecursionError) as err:
        raise MatnetError(f"{path}: damaged checkpoint ({str(err)[:200]})") from None
    if values.get("format") != FORMAT:
        raise MatnetError(f"{path}: not a matnet checkpoint")
    if values.get("version") != VERSION:
        raise MatnetError(f"{path}: checkpoint version {values.get('version')!r}, from another matnet; this one "
                          f"resumes version {VERSION} (train the run again)")
    return arrays, values
