"""Helpers the tests share (fixtures are in conftest.py): small IDX datasets made on the spot, the PyTorch twin of
a matnet network, and whether this is CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from matnet.data.idx import write_idx
from matnet.data.sources import PARTS

IN_CI = os.environ.get("CI", "").lower() == "true"


def make_idx_dir(folder, n_train=60, n_test=20, shape=(28, 28), classes=10, seed=0, gz=True):
    """Four IDX files of random uint8 images whose class is readable from their mean brightness."""
    gen = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        images = gen.integers(0, 40, size=(n, *shape)).astype(np.uint8)
        images += (labels * (200 // classes)).astype(np.uint8)[:, None, None]
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    for part, stem in PARTS.items():
        write_idx(arrays[part], folder / (stem + (".gz" if gz else "")))
    return arrays


def torch_twin(layers, torch):
    """The PyTorch network with the same layers and weights (Dense -> Linear: both keep W as (out, in))."""
    from matnet.nn import Dense, ReLU, Tanh

    modules = []
    for layer in layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                linear.weight.copy_(torch.tensor(layer.params["W"]))
                linear.bias.copy_(torch.tensor(layer.params["b"]))
            modules.append(linear)
        else:
            modules.append({ReLU: torch.nn.ReLU, Tanh: torch.nn.Tanh}[type(layer)]())
    return torch.nn.Sequential(*modules)


# --- a child process with bounded memory, for hostile files ---------------------------------------------------
BUDGET = 400 * 2**20   # address space a child may add to what its imports took: no hostile file gets past it

CHILD = """
import re, resource, sys
import numpy, matnet, matnet.data.datasets, matnet.data.sources, matnet.model_file
from matnet.errors import MatnetError
size = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_AS)[1]))
try:
    exec(sys.argv[1])
except MatnetError as err:
    print(f"MatnetError: {err}")
    sys.exit(3)
except MemoryError:
    print("MemoryError")
    sys.exit(4)
print("no error")
"""


def bounded(code: str, cwd: Path, budget: int = BUDGET, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose address space may grow by ``budget`` after its imports; it exits 3 on a
    MatnetError (printed), 4 on a MemoryError, 0 with "no error" otherwise."""
    return subprocess.run([sys.executable, "-c", CHILD, code, str(budget)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def snapshot_sizes(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file below ``folder``."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
