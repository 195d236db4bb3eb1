"""Checkpoints: a trainer's whole state in one ``.npz`` (arrays, and a JSON ``meta`` entry for the rest), written
atomically, read with ``allow_pickle=False``. The trainer writes them itself (see ``Trainer(checkpoint=...)``).

The format has a version (``VERSION``); a checkpoint of another version is refused with one line, never half
read. Version 3 saves the optimizer's base rate and the rate in force; version 2 kept the best epoch in the
trainer's own state; version 1 in a callback's.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from matnet.backend import to_numpy
from matnet.errors import MatnetError
from matnet.fileio import atomic_path, open_regular

__all__ = ["save_checkpoint", "load_checkpoint"]

FORMAT, VERSION = "matnet-checkpoint", 3


def save_checkpoint(path: str | Path, trainer) -> None:
    arrays, values = trainer.state_dict()
    meta = json.dumps({"format": FORMAT, "version": VERSION, **values})
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **{k: to_numpy(a) for k, a in arrays.items()}, meta=np.array(meta))


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    path = Path(path)
    if not path.is_file():
        raise MatnetError(f"{path}: no checkpoint to resume from")
    try:
        with open_regular(path) as file, np.load(file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files if key != "meta"}
            values = json.loads(str(stored["meta"]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MatnetError(f"{path}: damaged checkpoint ({err})") from None
    if values.get("format") != FORMAT:
        raise MatnetError(f"{path}: not a matnet checkpoint")
    if values.get("version") != VERSION:
        raise MatnetError(f"{path}: checkpoint version {values.get('version')!r}, from another matnet; this one "
                          f"resumes version {VERSION} (train the run again)")
    return arrays, values
