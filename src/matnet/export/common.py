"""What both exports share: checking where they may write, and the numbers of a layer as inference sees them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matnet.backend import to_numpy
from matnet.nn.batchnorm import fold
from matnet.errors import MatnetError
from matnet.fileio import named_output, refuse_special_target

__all__ = ["check_file_target", "check_folder_target", "check_softmax_output", "batchnorm_affine", "float32"]


def check_softmax_output(model, format: str) -> None:
    """Both exports end in a softmax (the model's own Softmax, or one they add to the logits); a model whose
    outputs are scores (``Network.outputs_scores``: a sigmoid or linear output under MSE, which matnet normalises
    instead) is refused in one line, before anything is written."""
    if getattr(model, "outputs_scores", False):
        raise MatnetError(f"this model's outputs are scores (its loss is mse, its output not softmax), which "
                          f"matnet normalises into probabilities; the {format} export supports softmax outputs only "
                          f"(train with --output softmax)")


def _check_parent(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        raise MatnetError(f"{path}: the folder {parent} does not exist (make it first)")
    if not parent.is_dir():
        raise MatnetError(f"{path}: {parent} is a file, not a folder")


def check_file_target(path: str | Path, force: bool, made_by_matnet=None) -> Path:
    """``path``, a file about to be written: its folder must exist, and an existing file is replaced only as
    ``fileio.named_output`` allows (with ``force``, or when ``made_by_matnet(path)``; a folder never)."""
    path = Path(path)
    if path.is_dir():
        raise MatnetError(f"{path} is a folder; give the file to write, e.g. {path / 'model.onnx'}")
    named_output(path, force=force, made_by_matnet=made_by_matnet)
    _check_parent(path)
    return path


def check_folder_target(path: str | Path, force: bool, names: list[str], made_by_matnet=None) -> Path:
    """``path``, a folder the files ``names`` are about to be written into: its parent must exist; the folder may
    exist only empty, or with ``force`` (which replaces those files and touches nothing else in it), or holding
    only files among ``names`` that ``made_by_matnet(file)`` says matnet wrote (an export made again)."""
    path = Path(path)
    for name in names:
        refuse_special_target(path / name)       # a device where a file goes: never replaced
    if path.exists() and not path.is_dir():
        raise MatnetError(f"{path} is a file; give a folder to write {', '.join(names)} into")
    present = list(path.iterdir()) if path.is_dir() else []
    ours = made_by_matnet is not None and all(p.name in names and made_by_matnet(p) for p in present)
    if present and not force and not ours:
        taken = [name for name in names if (path / name).exists()]
        what = f"holds {', '.join(taken)}" if taken else "is not empty"
        raise MatnetError(f"{path} already exists and {what}: add --force (force=True in Python) to write into it "
                          f"anyway")
    if not path.is_dir():
        _check_parent(path)
    return path


def float32(array) -> np.ndarray:
    """A parameter as a float32 NumPy array (the exports always store float32, whatever the model's dtype)."""
    return np.ascontiguousarray(to_numpy(array), dtype=np.float32)


def batchnorm_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """BatchNorm in inference form as ``out = x * scale + shift`` per feature or channel (``nn.batchnorm.fold``,
    the layer's own evaluation forward), computed in float64 on the host."""
    gamma, beta = (to_numpy(bn.params[key]).astype(np.float64) for key in ("gamma", "beta"))
    mean, var = (to_numpy(bn.buffers[key]).astype(np.float64) for key in ("running_mean", "running_var"))
    return fold(gamma, beta, mean, var, bn.eps)

