"""Every `matnet ...` line in the README's shell blocks runs, as printed, and succeeds.

Training lines get ``--epochs 1 --subset 300 --val-size 200`` appended (later flags win), so they run in seconds;
everything else runs as written, in a scratch folder with its own data cache. Placeholders are made real: run
folders (``runs/x``, ``runs/demo``, ...), ``DIR`` (four IDX files), ``digit.png`` (a real MNIST test digit),
``examples/`` (the repository's own).
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import make_idx_dir
from matnet.cli.main import main
from matnet.data.datasets import cache_path

README = Path(__file__).resolve().parent.parent / "README.md"
FAST = ["--epochs", "1", "--subset", "300", "--val-size", "200"]
# Lines a sibling test already runs in full (with what it needs, e.g. a loopback mirror): README line -> test.
COVERED = {"matnet data fetch mnist --mirror URL":
           "tests/data/test_datasets.py::test_real_mnist_from_a_mirror_passes_the_known_checksums"}


def readme_commands() -> list[str]:
    """The `matnet` lines of the README's ```sh blocks, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("matnet "):
                commands.append(" ".join(line.split()))
    return commands


def test_the_readme_has_the_commands_this_test_knows():
    commands = readme_commands()
    assert len(commands) >= 15 and "matnet gradcheck" in commands
    for line, test in COVERED.items():
        assert line in commands
        path, name = test.split("::")
        assert f"def {name}(" in (README.parent / path).read_text(encoding="utf-8")


@pytest.fixture
def workdir(tmp_path, monkeypatch, mnist):
    """A scratch folder as the current directory, with a cache holding the real MNIST (linked, not copied)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    real = [cache_path(name) for name in ("mnist", "fashion-mnist")]
    monkeypatch.setenv("MATNET_CACHE", str(cache))
    for path in real:
        if path.is_file():
            (cache / path.name).symlink_to(path)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    make_idx_dir(tmp_path / "DIR")
    digit = mnist.test_images[0]                              # a 7, dark ink on light paper, 4x larger
    Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).save(tmp_path / "digit.png")
    shutil.copytree(README.parent / "examples", tmp_path / "examples")   # the example photos the project ships
    return tmp_path


def run(capsys, args: list[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, f"matnet {' '.join(args)} exited {code}: {err}"
    return out


def serve_briefly(args: list[str]) -> None:
    """A `matnet serve` line, as a real process on a free port: it must answer /api/health, then stop on Ctrl-C."""
    proc = subprocess.Popen([sys.executable, "-m", "matnet", *args, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        deadline, address = time.monotonic() + 60, None
        while address is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"page: (http://127\.0\.0\.1:\d+/)", line)
            address = found.group(1) if found else None
        assert address, f"matnet {' '.join(args)} printed no address: {proc.stderr.read() if proc.poll() else ''}"
        with urllib.request.urlopen(address + "api/health", timeout=10) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def interrupted_run(capsys, args: list[str], monkeypatch):
    """The training line stopped after its first epoch (as by Ctrl-C), so that `--resume` has work to do."""
    from matnet.train import trainer as trainer_module

    class StopAfterFirstEpoch(trainer_module.Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            raise KeyboardInterrupt

    real_init = trainer_module.Trainer.__init__

    def init(self, *a, callbacks=(), **k):
        real_init(self, *a, callbacks=[*callbacks, StopAfterFirstEpoch()], **k)

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module.Trainer, "__init__", init)
        assert main(args) == 130
    capsys.readouterr()


@pytest.mark.slow
def test_every_readme_command_runs(workdir, capsys, monkeypatch):
    made = set()
    for line in readme_commands():
        if line in COVERED:
            continue
        args = shlex.split(line)[1:]
        args = [arg for arg in args if arg != "..."]
        for run_folder in re.findall(r"\bruns/[\w-]+", line):    # runs a line reads must exist: a tiny run
            if run_folder not in made and not (args[0] == "train" and "--out" in args):
                if not Path(run_folder).exists():
                    run(capsys, ["train", *FAST, "--out", run_folder])
                made.add(run_folder)
        if args[0] == "train" and "--resume" not in args:
            args += FAST
            if "--out" in args and "runs/x" in args:                  # runs/x is resumed below: stop it early
                interrupted_run(capsys, [*args, "--epochs", "2"], monkeypatch)
                made.add("runs/x")
                continue
            out = run(capsys, args)
            assert "test accuracy" in out, line
        elif args[0] == "serve":
            serve_briefly(args)
        else:
            run(capsys, args)
    assert Path("compare.png").is_file() and Path("compare.html").is_file()
    assert (workdir / "runs" / "x" / "summary.json").is_file()        # the resumed run finished
