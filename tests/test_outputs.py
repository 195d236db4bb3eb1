"""The one rule for files matnet writes (``matnet/fileio.py``): a default name lands in runs/ under the first free
name; a path you name is replaced only with --force (force=True), or, in Python, when matnet wrote it there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matnet.cli.main import main
from matnet.config import TrainConfig
from matnet.errors import MatnetError
from matnet.export import export_c, export_onnx
from matnet.architectures import build_mlp
from matnet.fileio import default_output, first_free, free_path, named_output
from matnet.run import train_run


def test_a_default_name_takes_the_first_free_one_in_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = default_output("plot.png")
    assert first == tmp_path.joinpath("runs", "plot.png").relative_to(tmp_path)
    first.write_text("1")
    second = default_output("plot.png")
    assert second.name == "plot-2.png"
    second.write_text("2")
    assert default_output("plot.png").name == "plot-3.png" and first.read_text() == "1"


def test_a_default_name_is_reserved_so_two_commands_at_once_never_share_it(tmp_path, monkeypatch, capsys):
    """Each pick makes its name exclusively before anything is written: many threads picking at once get as many
    names; a command that fails before writing gives its name back."""
    import threading

    monkeypatch.chdir(tmp_path)
    assert [default_output("a.png").name, default_output("a.png").name] == ["a.png", "a-2.png"]   # nothing written
    picked, start = [], threading.Barrier(8)

    def pick():
        start.wait()
        picked.append(default_output("compare.png").name)

    threads = [threading.Thread(target=pick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(picked) == sorted(["compare.png"] + [f"compare-{k}.png" for k in range(2, 9)])
    assert main(["compare", str(tmp_path / "no-such-run")]) == 1
    capsys.readouterr()
    assert not (tmp_path / "runs" / "compare-9.png").exists()       # reserved, then given back



def test_one_rule_for_the_first_free_name(tmp_path, monkeypatch):
    """``first_free`` is the one numbering (NAME, NAME-2, ... with an extension kept at the end) of a default
    output, a run folder, an input image saved by ``predict --show-input`` and a served model's name."""
    from matnet.cli.predict import save_unique
    from matnet.cli.common import new_config

    taken = {"demo", "demo-2", "a.b.png"}
    assert first_free("demo", taken.__contains__) == "demo-3" and first_free("x", taken.__contains__) == "x"
    assert first_free("a.b", taken.__contains__, ".png") == "a.b-2.png"
    (tmp_path / "lr0.01").mkdir()
    (tmp_path / "lr0.01-2").symlink_to(tmp_path / "nowhere")                 # a dangling link is taken too
    assert free_path(tmp_path, "lr0.01") == tmp_path / "lr0.01-3"             # a folder: the dot is no extension
    monkeypatch.chdir(tmp_path)
    Path(TrainConfig().out).mkdir(parents=True)
    assert new_config(None, None, {}).out == TrainConfig().out + "-2"       # a run folder under a default name
    tried = []

    def claim(name):                                                          # taken, or claimed as it is tried
        tried.append(name)
        return len(tried) < 3
    assert first_free("n.digit1", claim, ".png") == "n.digit1-3.png" and tried[:2] == ["n.digit1.png", "n.digit1-2.png"]
    field = np.zeros((28, 28), np.float32)
    assert [save_unique(field, tmp_path, "seen").name for _ in range(3)] == ["seen.png", "seen-2.png", "seen-3.png"]


def test_a_named_path_is_replaced_only_with_force_or_when_matnet_made_it(tmp_path):
    mine = tmp_path / "mine.png"
    mine.write_text("the user's")
    with pytest.raises(MatnetError, match=r"mine.png already exists: add --force \(force=True in Python\)"):
        named_output(mine, force=False)
    assert named_output(mine, force=True) == mine
    assert named_output(mine, force=False, made_by_matnet=lambda p: True) == mine
    with pytest.raises(MatnetError, match="is a folder"):
        named_output(tmp_path, force=True)


def test_saving_a_model_again_works_and_a_foreign_file_is_kept(tmp_path):
    model = build_mlp([4, 3, 2])
    model.save(tmp_path / "digits")
    model.save(tmp_path / "digits")                                      # a notebook cell run again
    (tmp_path / "notes.json").write_text('{"mine": true}')
    with pytest.raises(MatnetError, match="notes.json already exists: add --force"):
        model.save(tmp_path / "notes")
    assert json.loads((tmp_path / "notes.json").read_text()) == {"mine": True}
    assert not (tmp_path / "notes.npz").exists()
    model.save(tmp_path / "notes", force=True)
    assert json.loads((tmp_path / "notes.json").read_text())["format"] == "matnet-model"


def test_exports_from_python_replace_their_own_earlier_output_only(tmp_path):
    pytest.importorskip("onnx")
    model = build_mlp([784, 8, 10])
    path = export_onnx(model, tmp_path / "m.onnx")
    export_onnx(model, path)                                             # its own: replaced
    (tmp_path / "other.onnx").write_bytes(b"not an export")
    with pytest.raises(MatnetError, match="other.onnx already exists"):
        export_onnx(model, tmp_path / "other.onnx")
    export_c(model, tmp_path / "c")
    export_c(model, tmp_path / "c")                                      # its own: replaced
    (tmp_path / "c" / "notes.txt").write_text("the user's")
    with pytest.raises(MatnetError, match="already exists"):
        export_c(model, tmp_path / "c")
    assert (tmp_path / "c" / "notes.txt").read_text() == "the user's"


def test_on_the_command_line_only_force_replaces_a_named_file(tmp_path, capsys):
    pytest.importorskip("onnx")
    build_mlp([784, 8, 10]).save(tmp_path / "m")
    out = str(tmp_path / "m.onnx")
    assert main(["export", str(tmp_path / "m"), "--format", "onnx", "-o", out]) == 0
    assert main(["export", str(tmp_path / "m"), "--format", "onnx", "-o", out]) == 1
    assert "already exists: add --force" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "m"), "--format", "onnx", "-o", out, "--force"]) == 0


def test_compare_writes_its_default_figure_under_a_free_name(tmp_path, monkeypatch, capsys, mnist):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        train_run(TrainConfig(out=f"runs/{name}", epochs=1, subset=300, val_size=200), progress=False)
    assert main(["compare", "runs/a", "runs/b"]) == 0
    assert main(["compare", "runs/a", "runs/b"]) == 0
    assert "figure: runs/compare-2.png" in capsys.readouterr().out
    assert (tmp_path / "runs" / "compare.png").is_file() and (tmp_path / "runs" / "compare-2.png").is_file()
    assert main(["compare", "runs/a", "runs/b", "--out", "runs/compare.png"]) == 1       # named: refused
    assert main(["compare", "runs/a", "runs/b", "--out", "runs/compare.png", "--force"]) == 0


def special_targets(folder: Path) -> list[Path]:
    """A named pipe, and (as root, which can make one) a character device that is a copy of /dev/null."""
    import os
    import stat

    made = [folder / "pipe"]
    os.mkfifo(made[0])
    if os.geteuid() == 0:
        made.append(folder / "null")
        os.mknod(made[1], 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return made


def test_force_never_replaces_a_device_or_a_pipe(tmp_path, capsys):
    """--force replaces regular files only: a device or a named pipe where matnet would write stays what it is,
    with one line saying why (the rename that writes a file atomically would have put a plain file in its place).
    """
    import stat

    build_mlp([784, 8, 10]).save(tmp_path / "m")
    for target in special_targets(tmp_path):
        kind = "a named pipe (FIFO)" if target.name == "pipe" else "a device"
        message = f"matnet: error: {target}: {kind}, not a file; matnet replaces only regular files, --force or not"
        assert main(["export", str(tmp_path / "m"), "--format", "onnx", "-o", str(target), "--force"]) == 1
        assert capsys.readouterr().err.strip() == message
        folder = tmp_path / f"c-{target.name}"
        folder.mkdir()
        (folder / "model.c").symlink_to(target)                     # a link is replaced itself: allowed
        (folder / "model.h").unlink(missing_ok=True)
        import os

        os.rename(target, folder / "model.h")                        # the device itself where a file goes
        assert main(["export", str(tmp_path / "m"), "--format", "c", "-o", str(folder), "--force"]) == 1
        assert f"{folder / 'model.h'}: {kind}, not a file" in capsys.readouterr().err
        with pytest.raises(MatnetError, match="not a file; matnet replaces only regular files"):
            named_output(folder / "model.h", force=True)
        mode = (folder / "model.h").lstat().st_mode
        assert stat.S_ISFIFO(mode) if target.name == "pipe" else stat.S_ISCHR(mode)
        run = tmp_path / f"run-{target.name}"
        run.mkdir()
        os.rename(folder / "model.h", run / "config.toml")
        assert main(["train", "--epochs", "1", "--subset", "100", "--val-size", "50", "--out", str(run),
                     "--force"]) == 1
        assert f"{run / 'config.toml'}: {kind}, not a file" in capsys.readouterr().err
        mode = (run / "config.toml").lstat().st_mode
        assert stat.S_ISFIFO(mode) if target.name == "pipe" else stat.S_ISCHR(mode)


@pytest.mark.parametrize("runs", ["file", "dangling link"])
def test_runs_as_a_file_or_a_dangling_link_is_named(tmp_path, monkeypatch, capsys, runs):
    monkeypatch.chdir(tmp_path)
    if runs == "file":
        (tmp_path / "runs").write_text("mine")
    else:
        (tmp_path / "runs").symlink_to(tmp_path / "nowhere")
    assert main(["compare", str(tmp_path / "no-such-run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"matnet: error: runs is a {runs}, not a folder: matnet writes files under a default name into " \
                  f"runs/; move it, or name the output yourself"


def test_compare_refuses_one_path_for_the_figure_and_the_page(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "a"), "--out", str(tmp_path / "same.png"), "--html",
                 str(tmp_path / "same.png")]) == 2
    assert "--out and --html both name" in capsys.readouterr().err and not (tmp_path / "same.png").exists()


@pytest.mark.parametrize("filename", [None, "temporary"])
def test_a_write_error_names_the_file_the_user_asked_for(tmp_path, filename):
    """A full disk while a file is written raises an OSError that names no file (or the temporary one): the error
    names the target instead, and the temporary file is gone."""
    import errno

    from matnet.cli.main import os_error_message
    from matnet.fileio import atomic_path

    target = tmp_path / "train-images-idx3-ubyte"
    with pytest.raises(OSError) as raised:
        with atomic_path(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", *([str(tmp)] if filename else []))
    assert os_error_message(raised.value) == f"{target}: the disk is full"
    assert list(tmp_path.iterdir()) == []
