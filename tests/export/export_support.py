"""Helpers of the export tests (the fixtures are in conftest.py): compiling C with the README's flags, the
``matnet`` command run in this process, models saved to files, BatchNorm statistics drawn at random."""

from __future__ import annotations

import subprocess

import numpy as np

from matnet.backend import to_numpy
from matnet.cli.main import main
from matnet.data.prepare import model_inputs
from matnet.model_file import save_model
from matnet.nn import BatchNorm

__all__ = ["STRICT", "SANITIZE", "PREPROCESSING", "compile_c", "randomize_batchnorm", "inputs", "saved", "matnet",
           "one_error_line"]

STRICT = ["-O2", "-std=c99", "-Wall", "-Wextra", "-pedantic"]     # the README's line: no warning allowed
SANITIZE = ["-O1", "-g", "-std=c99", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
PREPROCESSING = {"image_shape": [28, 28], "scale": "pixel / 255", "dataset": "mnist"}


def compile_c(cc, sources, out, flags=STRICT, include=None):
    """Build ``out`` from ``sources``; fails the test on any warning or error (the compiler's output)."""
    command = [cc, *flags, *([f"-I{include}"] if include else []), "-o", str(out), *map(str, sources), "-lm"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not done.stderr.strip(), f"{' '.join(command)}\n{done.stderr}"
    return out


def randomize_batchnorm(model, seed: int = 0):
    """gamma, beta and running statistics away from the defaults, so that folding them is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.all_layers():
        if isinstance(layer, BatchNorm):
            n = layer.num_features
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, n)
            layer.params["beta"][...] = rng.normal(0, 0.1, n)
            layer.buffers["running_mean"][...] = rng.normal(0, 0.1, n)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, n)
    return model


def inputs(model, images) -> np.ndarray:
    return np.ascontiguousarray(to_numpy(model_inputs(images, model.input_shape)), dtype=np.float32)


def saved(model, folder, name="model"):
    """``model`` saved as folder/name.npz + .json; the path to give the command."""
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, folder / name)
    return str(folder / name)


def matnet(capsys, *args) -> tuple[int, str, str]:
    """``matnet ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(result, code: int, *words: str) -> str:
    """The command failed with ``code`` and one ``matnet: error:`` line naming every one of ``words``."""
    got, _, err = result
    lines = err.strip().splitlines()
    assert got == code and len(lines) == 1 and lines[0].startswith("matnet: error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
