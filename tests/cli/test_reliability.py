"""Nothing lost, no silent wrong answers: what the command line does with runs that exist, settings that are
wrong, folders that are not runs, and failures of the machine itself. In-process (``main([...])``) for speed."""

import errno
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from matnet.cli.main import main, os_error_message
from matnet.errors import MatnetError
from matnet.fileio import write_text

TINY = ["--subset", "300", "--val-size", "200", "--epochs", "1", "--layers", "784,16,10"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("matnet: error: "), err
    return lines[0]


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_an_existing_run_is_never_replaced_without_force(tmp_path, capsys, mnist):
    out = tmp_path / "run"
    assert run(capsys, "train", *TINY, "--out", str(out))[0] == 0
    before = snapshot(out)
    code, stdout, err = run(capsys, "train", *TINY, "--seed", "1", "--out", str(out))
    assert code == 1 and stdout == ""
    line = error_line(err)
    assert f"{out} already holds a run" in line and "--resume" in line and "--force" in line
    assert snapshot(out) == before                                    # not one byte changed
    (out / "notes.txt").write_text("mine")
    assert run(capsys, "train", *TINY, "--seed", "1", "--out", str(out), "--force")[0] == 0
    after = snapshot(out)
    assert after["notes.txt"] == b"mine"                              # only the run's own files were replaced
    assert after["model.npz"] != before["model.npz"] and "seed = 1" in after["config.toml"].decode()


@pytest.mark.slow
def test_repeating_a_run_from_its_config_writes_a_new_folder(tmp_path, capsys, mnist, monkeypatch):
    out = tmp_path / "first"
    assert run(capsys, "train", *TINY, "--out", str(out))[0] == 0
    before = snapshot(out)
    code, stdout, _ = run(capsys, "train", "--config", str(out / "config.toml"))
    assert code == 0 and f"-> {tmp_path / 'first-2'}" in stdout
    assert snapshot(out) == before and (tmp_path / "first-2" / "model.npz").is_file()
    monkeypatch.chdir(tmp_path)                                       # without --out: a free name, never a clash
    for expected in ("runs/mlp", "runs/mlp-2"):
        code, stdout, _ = run(capsys, "train", *TINY)
        assert code == 0 and f"-> {expected}\n" in stdout and (tmp_path / expected / "model.npz").is_file()


@pytest.mark.parametrize("args,message,exit_code", [
    (["--val-size", "0", "--patience", "2"], "patience (early stopping) watches the validation loss", 2),
    (["--layers", "700,10"], "layers must start with 784", 1),          # found against the dataset, once loaded
    (["--dataset", "mnsit"], "unknown dataset 'mnsit'", 1),
    (["--model", "cnn", "--filters", "8,8,8,8,8"], "5 blocks halve 28x28 images to nothing", 1),
])
def test_settings_errors_come_before_anything_is_written_or_announced(tmp_path, capsys, mnist, args, message,
                                                                      exit_code):
    out = tmp_path / "never"
    code, stdout, err = run(capsys, "train", *args, "--out", str(out))
    assert code == exit_code and message in error_line(err)
    assert stdout == "" and not out.exists()


def test_a_file_where_the_run_folder_should_be(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "train", "--out", str(tmp_path / "file" / "run"))
    assert code == 1 and "is a file, not a folder" in error_line(err)


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"\x89PNG not really")
    before = snapshot(photos)
    code, _, err = run(capsys, "report", str(photos))
    assert code == 1 and "not a run folder" in error_line(err)
    assert snapshot(photos) == before


def test_json_errors_are_json_too(tmp_path, capsys):
    code, stdout, err = run(capsys, "info", str(tmp_path / "nope"), "--json")
    assert code == 1 and "no run folder or model file" in error_line(err)
    assert json.loads(stdout) == {"error": f"{tmp_path / 'nope'}: no run folder or model file of that name",
                                  "exit_code": 1}


def test_json_has_no_nan(tmp_path, capsys):
    from matnet.cli.common import echo_json

    echo_json({"loss": float("nan"), "values": [1.0, float("inf")], "n": 3})
    assert json.loads(capsys.readouterr().out) == {"loss": None, "values": [1.0, None], "n": 3}


def test_debug_works_anywhere_on_the_command_line(tmp_path, capsys):
    with pytest.raises(MatnetError, match="no run folder or model file"):
        main(["info", str(tmp_path / "nope"), "--debug"])
    code, _, err = run(capsys, "info", str(tmp_path / "nope"))
    assert code == 1 and "Traceback" not in err


@pytest.mark.parametrize("number,words", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "the file system is read-only"),
                                          (errno.EACCES, "permission denied"),
                                          (errno.ENOTDIR, "a file stands where a folder should be")])
def test_os_errors_are_one_line_naming_the_path(number, words):
    assert os_error_message(OSError(number, os.strerror(number), "runs/x/summary.json")) == \
        f"runs/x/summary.json: {words}"


def test_an_os_error_while_writing_is_one_line(tmp_path, capsys, monkeypatch):
    """The disk filling up in the middle of writing a report: one line naming the file, exit 1."""
    import matnet.runfolder

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "loss": 1.0, "acc": 0.5}\n')
    monkeypatch.setattr(matnet.runfolder, "write_text", full)
    code, _, err = run(capsys, "report", str(folder))
    assert code == 1 and error_line(err) == f"matnet: error: {folder / 'report.html'}: the disk is full"


def test_interrupted_writes_leave_nothing_behind_after_the_next(tmp_path):
    target = tmp_path / "summary.json"
    leftover = tmp_path / ".summary.json.tmp.abc123"
    leftover.write_text("half a file")
    other = tmp_path / ".other.json.tmp.x"
    other.write_text("not ours to clean")
    write_text(target, "{}")
    assert target.read_text() == "{}" and not leftover.exists() and other.exists()


def test_info_shows_only_the_settings_the_architecture_uses(tmp_path, capsys):
    from matnet import build_mlp
    from matnet.config import TrainConfig, config_toml
    from matnet.runfolder import RunFolder

    folder = RunFolder(tmp_path / "run")
    folder.save_model(build_mlp([784, 16, 10]))
    folder.write_config(config_toml(TrainConfig(layers=[784, 16, 10])))
    code, out, _ = run(capsys, "info", str(folder.path))
    training = [line for line in out.splitlines() if line.startswith("training: ")][0]
    keys = re.findall(r"(?:: |, )([a-z_]+) ", training)
    assert code == 0 and "layers [784, 16, 10]" in training and "activation relu" in training
    assert {"layers", "activation", "dropout", "lr"} <= set(keys) and not {"filters", "dense", "out"} & set(keys)
    assert "momentum 0.9" in training                                  # the default optimizer is momentum

    from matnet.architectures import build_fastcnn                     # a speedrun run: Adam, the fastcnn
    fast = RunFolder(tmp_path / "fast")
    fast.save_model(build_fastcnn())
    fast.write_config(config_toml(TrainConfig(model="fastcnn", optimizer="adam", filters=[16, 32], dense=64)))
    code, out, _ = run(capsys, "info", str(fast.path))
    training = [line for line in out.splitlines() if line.startswith("training: ")][0]
    keys = set(re.findall(r"(?:: |, )([a-z_]+) ", training))
    assert code == 0 and "filters [16, 32]" in training and "optimizer adam" in training
    assert not {"layers", "activation", "momentum", "out"} & keys


# --- issue 27: hostile files -------------------------------------------------------------------------------
def tiny_model(path, classes=None):
    from matnet import Sequential, save_model
    from matnet.nn import Dense

    model = Sequential([Dense(784, 10)], classes=classes) if classes else Sequential([Dense(784, 10)])
    save_model(model, path)
    return path


def digit_png(path):
    from PIL import Image

    pixels = np.full((28, 28), 255, np.uint8)
    pixels[6:22, 12:16] = 0                                           # a dark stroke: a "1"
    Image.fromarray(pixels).save(path)
    return path


def matnet_child(*args, timeout=20):
    """``python -m matnet ARGS`` in a child, so that a hang is a failed test, not a stuck suite."""
    return subprocess.run([sys.executable, "-m", "matnet", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=os.environ)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_predict_refuses_a_named_pipe_without_waiting_on_it(tmp_path):
    model = tiny_model(tmp_path / "m")
    a, b = digit_png(tmp_path / "a.png"), digit_png(tmp_path / "b.png")
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)                                                   # no writer ever comes: a read would block
    done = matnet_child("predict", f"{model}.npz", a, fifo, b, "--json", timeout=20)
    assert done.returncode == 1
    results = json.loads(done.stdout)
    assert [r["file"] for r in results] == [str(a), str(fifo), str(b)]
    assert results[1] == {"file": str(fifo), "error": f"{fifo}: a named pipe (FIFO), not a file; matnet reads "
                                                      f"only regular files"}
    assert "label" in results[0] and "label" in results[2]
    errors = [line for line in done.stderr.splitlines() if not line.startswith("matnet: warning:")]  # unsure: untrained
    assert errors == [f"matnet: error: {results[1]['error']}"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("where", ["model.json", "model.npz", "config", "idx", "metrics", "socket"])
def test_every_reader_of_user_files_refuses_a_named_pipe(tmp_path, capsys, where):
    import socket

    from matnet.data.idx import read_idx
    from matnet.fileio import NotRegularFile

    if where == "socket":
        path = tmp_path / "s.png"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            with pytest.raises(NotRegularFile, match="s.png: a socket, not a file"):
                from matnet.data.images import read_gray
                read_gray(path)
        return
    if where.startswith("model"):
        model = tiny_model(tmp_path / "model")
        path = tmp_path / where
        path.unlink()
        os.mkfifo(path)
        code, _, err = run(capsys, "info", str(model) + ".json")
    elif where == "config":
        path = tmp_path / "c.toml"
        os.mkfifo(path)
        code, _, err = run(capsys, "train", "--config", str(path))
    elif where == "idx":
        path = tmp_path / "x.idx"
        os.mkfifo(path)
        with pytest.raises(NotRegularFile):
            read_idx(path)
        return
    else:
        from matnet.config import TrainConfig, config_toml

        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "config.toml").write_text(config_toml(TrainConfig()))
        path = tmp_path / "run" / "metrics.jsonl"
        os.mkfifo(path)
        from matnet.runfolder import read_run                         # a report shows what it could read

        missing = read_run(tmp_path / "run").missing
        assert f"the per-epoch metrics ({path}: a named pipe (FIFO), not a file; matnet reads only regular " \
               f"files)" in missing
        return
    assert code == 1 and error_line(err) == f"matnet: error: {path}: a named pipe (FIFO), not a file; matnet " \
                                            f"reads only regular files"


def test_train_refuses_a_network_that_load_model_would_refuse(tmp_path, capsys, mnist):
    """784-62894-10 is 50,000,740 parameters, just over the limit: refused before a weight is allocated or the
    run folder made (784-62893-10, 49,999,945, is within it)."""
    from matnet import build_mlp
    from matnet.nn.sizing import check_params

    out = tmp_path / "big"
    code, stdout, err = run(capsys, "train", *TINY[:6], "--layers", "784,62894,10", "--out", str(out))
    assert code == 1 and stdout == "" and not out.exists()
    assert error_line(err) == ("matnet: error: layers 784,62894,10 would make 50,000,740 parameters, more than the "
                               "limit of 50,000,000 (no MNIST-shaped model needs that many; raise it with "
                               "max_params=... or MATNET_MAX_PARAMS)")
    with pytest.raises(MatnetError, match="more than the limit of 50,000,000"):
        build_mlp([784, 62894, 10])
    check_params(785 * 62893 + 62894 * 10, "784-62893-10")            # at the limit: allowed
    from matnet.architectures import build_cnn

    with pytest.raises(MatnetError, match=r"the cnn \(filters 8, dense 65536\) would make 103,481,442 parameters"):
        build_cnn(filters=[8], dense=65536)
    for filters, dense in (([8, 16], 32), ([4], 7), ([2, 3, 5], 9)):   # the count before building is the count
        limit = build_cnn(filters=filters, dense=dense).num_params
        build_cnn(filters=filters, dense=dense, max_params=limit)
        with pytest.raises(MatnetError, match=f"{limit:,} parameters, more than the limit of {limit - 1:,}"):
            build_cnn(filters=filters, dense=dense, max_params=limit - 1)


def test_the_same_override_lets_train_make_and_load_a_larger_model(tmp_path, capsys, mnist, monkeypatch):
    """MATNET_MAX_PARAMS moves the one limit for both: 784-16-10 (12,730 parameters) under a limit of 12,729 is
    refused by train; at 12,730 it trains, and the model it wrote loads under that same limit."""
    from matnet import load_model

    monkeypatch.setenv("MATNET_MAX_PARAMS", "12729")
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "no"))
    assert code == 1 and "12,730 parameters, more than the limit of 12,729" in error_line(err)
    assert not (tmp_path / "no").exists()
    monkeypatch.setenv("MATNET_MAX_PARAMS", "12730")
    assert run(capsys, "train", *TINY, "--out", str(tmp_path / "yes"))[0] == 0
    assert load_model(tmp_path / "yes").num_params == 12730


def test_a_run_whose_schedule_gives_every_step_rate_0_is_refused(tmp_path, capsys, mnist):
    """One step with the cosine schedule: that step ends the run, where cosine reaches 0. Refused before the run
    folder is made; two steps (the first at half-way: half the rate) or a constant schedule train."""
    from matnet import build_mlp
    from matnet.optim import Momentum, make_schedule
    from matnet.train.trainer import Trainer

    one_step = [*TINY, "--batch-size", "10000000"]
    code, stdout, err = run(capsys, "train", *one_step, "--out", str(tmp_path / "r"))
    assert code == 1 and stdout == "" and not (tmp_path / "r").exists()
    assert error_line(err) == ("matnet: error: the cosine schedule gives 0 at the only step of this run, which would "
                               "learn nothing: use more steps (a smaller batch size or more epochs) or another "
                               "schedule")
    assert run(capsys, "train", *one_step, "--schedule", "constant", "--out", str(tmp_path / "c"))[0] == 0
    x, y = mnist.train_images[:8].reshape(8, -1) / 255.0, mnist.train_labels[:8]
    with pytest.raises(MatnetError, match="the learning rate is 0 at every one of the 4 steps"):
        Trainer(build_mlp([784, 4, 10]), optimizer=Momentum(0.1, schedule=lambda t, lr: 0.0), epochs=2,
                batch_size=4).fit(x, y)
    optimizer = Momentum(0.1, schedule=make_schedule("cosine", epochs=1))
    with pytest.raises(MatnetError, match="the cosine schedule gives 0 at the only step"):
        Trainer(build_mlp([784, 4, 10]), optimizer=optimizer, epochs=1, batch_size=8).fit(x, y)
    history = Trainer(build_mlp([784, 4, 10]), optimizer=optimizer, epochs=1, batch_size=4).fit(x, y)
    assert history.epochs[-1]["lr"] == 0.0 and optimizer.t == 2      # its first step ran at lr 0.05


@pytest.mark.parametrize("name,text,message", [
    ("deep", "lr = " + "[" * 5_000 + "]" * 5_000 + "\n", "brackets nested too deep for a config; not parsing it"),
    ("tables", "x=" + "{a=" * 1_500 + "1" + "}" * 1_500, "brackets nested too deep for a config; not parsing it"),
    ("big", "".join(f"k{i} = 1\n" for i in range(1_000_000)),
     "more than 16,384 bytes, far more than a config takes; not reading it"),
    # tomllib takes time and memory quadratic in a key's parts: 20,000 parts took 8 s and 1.66 GB, these 22 GB
    ("dotted", "a" + ".a" * 100_000 + " = 1\n", "more than 16,384 bytes, far more than a config takes; not reading it"),
    ("header", "[a" + ".a" * 100_000 + "]\nx = 1\n",
     "more than 16,384 bytes, far more than a config takes; not reading it"),
    # the longest dotted key under the cap: parsed (quadratic, but 8,000 parts is well under a second)
    ("longest key", "a" + ".a" * 8_000 + " = 1\n", "unknown key 'a'"),
])
def test_a_hostile_config_is_refused_before_parsing(tmp_path, capsys, name, text, message):
    import time

    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    started = time.perf_counter()
    code, stdout, err = run(capsys, "train", "--config", str(path), "--out", str(tmp_path / "never"))
    assert code == (2 if name == "longest key" else 1)           # a file refused unread, or a bad key in it
    assert error_line(err).startswith(f"matnet: error: {path}: {message}")
    assert time.perf_counter() - started < 5 and not (tmp_path / "never").exists()


def test_a_config_error_names_at_most_ten_unknown_keys_and_short_values(tmp_path, capsys):
    path = tmp_path / "many.toml"
    path.write_text("".join(f"[table{i}]\n" for i in range(1_200)))       # 1,200 tables: 12 kB
    code, _, err = run(capsys, "train", "--config", str(path))
    line = error_line(err)
    assert code == 2 and "unknown keys 'table0', 'table1'" in line and "'table9', and 1,190 more; known" in line
    assert "table10'" not in line and len(line) < 1000
    deep = tmp_path / "dotted.toml"
    deep.write_text("lr." + ".".join(["x"] * 20) + " = 1\n")      # a key 21 levels deep, no brackets
    code, _, err = run(capsys, "train", "--config", str(deep))
    assert code == 2 and "key 'lr' must be a number, got {'x': {'x': {...}}}" in error_line(err)


def test_a_file_where_the_figures_folder_should_be(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "loss": 1.0, "acc": 0.5}\n')
    (folder / "figures").write_text("not a folder")
    code, stdout, err = run(capsys, "report", str(folder))
    assert code == 1 and stdout == ""
    assert error_line(err) == f"matnet: error: {folder / 'figures'}: a file stands where a folder should be"
    assert (folder / "figures").read_text() == "not a folder" and not (folder / "report.html").exists()


HOSTILE_NAMES = ["zero\rOVERWRITTEN", "one\nmatnet: error: fake", "two\x00nul", "three\u202eevil", "four\x1b[31mred",
                 "five\x07bell", "six\u2066iso", "seven\x9bcsi", "eight\u2028ls\u200bzw\ufeffbom\U000e0041tag", "nine"]


def assert_inert(text: str) -> None:
    """Only matnet's own line breaks: no other control character (Unicode Cc), no format character (Cf: bidi
    controls, zero-width, BOM, tags), no line or paragraph separator."""
    import unicodedata

    from matnet.terminal import UNSAFE_CATEGORIES

    bad = [c for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES and c != "\n"]
    assert not bad, bad


def test_names_from_a_model_file_are_shown_not_obeyed(tmp_path, capsys):
    from matnet import Sequential, save_model
    from matnet.nn import Dense

    save_model(Sequential([Dense(784, 10, name="dense\rX\u202e")], classes=HOSTILE_NAMES, name="m\x1b]0;title\x07"),
               tmp_path / "evil")
    model = tmp_path / "evil.npz"
    code, out, err = run(capsys, "info", str(model))
    assert code == 0 and err == ""
    assert_inert(out)
    assert "classes: zero\\rOVERWRITTEN, one\\nmatnet: error: fake, two\\0nul, three\\u202eevil, four\\x1b[31mred, " \
           "five\\x07bell, six\\u2066iso, seven\\x9bcsi, eight\\u2028ls\\u200bzw\\ufeffbom\\U000e0041tag, nine" in out
    assert "dense\\rX\\u202e (Dense)" in out and 'Model: "m\\x1b]0;title\\x07"' in out
    image = digit_png(tmp_path / "a.png")
    code, out, err = run(capsys, "predict", str(model), str(image), "--top", "10")
    assert code == 0 and len(out.splitlines()) == 1 and "one\\nmatnet: error: fake (" in out
    assert_inert(out)
    code, out, _ = run(capsys, "predict", str(model), str(image), "--json")
    assert json.loads(out)[0]["label"] in HOSTILE_NAMES                # JSON keeps the names exactly (escaped)
    code, _, err = run(capsys, "info", str(tmp_path / "no\rsuch\u202e"))
    assert code == 1 and error_line(err).endswith("no\\rsuch\\u202e: no run folder or model file of that name")
    assert_inert(err)


@pytest.mark.parametrize("garbage,why", [
    ("\x00\x01garbage{", "is not JSON (Expecting value: line 1 column 1 (char 0))"),
    ("[1, 2]", "is not an epoch's record (a JSON object)"),
])
def test_a_bad_line_in_the_middle_of_metrics_costs_only_that_line(tmp_path, capsys, mnist, garbage, why):
    from matnet.runfolder import read_run

    folder = tmp_path / "run"
    assert run(capsys, "train", *TINY[:4], "--epochs", "3", *TINY[6:], "--out", str(folder))[0] == 0
    metrics = folder / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], garbage, *lines[1:]]) + "\n")   # a line 2 that is no epoch
    warning = f"matnet: warning: {metrics}: line 2 {why}; skipped it, read the other lines".replace("\x00", "\\0")
    warning = warning.replace("\x01", "\\x01")

    code, stdout, err = run(capsys, "report", str(folder))
    assert code == 0 and err.splitlines() == [warning] and "missing" not in stdout
    assert [m["epoch"] for m in read_run(folder).metrics] == [1, 2, 3]
    capsys.readouterr()
    assert (folder / "figures" / "curves.png").is_file()

    code, stdout, err = run(capsys, "compare", str(folder), "--out", str(tmp_path / "c.png"), "--json")
    assert code == 0 and err.splitlines() == [warning] and (tmp_path / "c.png").is_file()
    assert json.loads(stdout)["runs"][0]["epochs"] == 3

    code, stdout, err = run(capsys, "info", str(folder))            # info reads summary.json, not the metrics
    assert code == 0 and err == "" and "after 3 epochs" in stdout


NO_EPOCHS = [  # (a line of metrics.jsonl that is JSON but no epoch's record, why it is skipped)
    ("{}", "no 'epoch'"),
    ('{"epoch": 6}', "no 'loss'"),
    ('{"epoch": "x", "loss": null}', "'epoch' must be a whole number from 1 to 1,000,000,000, got \"x\""),
    ('{"epoch": true, "loss": 1}', "'epoch' must be a whole number from 1 to 1,000,000,000, got true"),
    ('{"epoch": 4, "loss": NaN, "acc": 0.5}', "'loss' must be a finite number, got NaN"),
    ('{"epoch": 4, "loss": 1e999}', "'loss' must be a finite number, got Infinity"),
    ('{"epoch": 4, "loss": 0.1, "acc": "high"}', "'acc' must be a finite number, got \"high\""),
]


def test_json_that_is_no_epochs_record_is_skipped_by_report_and_compare(tmp_path, capsys):
    """The stranger's probe: ``{}`` or ``{"epoch": 6}`` in metrics.jsonl made compare end in ``internal error:
    KeyError: 'epoch'`` and report leave out the learning curves. Built by hand (no training): three good epochs,
    one without ``acc`` and two without validation figures, with the bad lines between them."""
    from matnet.runfolder import read_run

    folder = tmp_path / "run"
    folder.mkdir()
    good = ['{"epoch": 1, "loss": 1.0, "acc": 0.5, "val_loss": 1.1, "val_acc": 0.4}', '{"epoch": 2, "loss": 0.5}',
            '{"epoch": 3, "loss": 0.25, "acc": 0.9}']
    metrics = folder / "metrics.jsonl"
    metrics.write_text("\n".join([good[0], *(bad for bad, _ in NO_EPOCHS), *good[1:]]) + "\n")
    warnings = [f"matnet: warning: {metrics}: line {k + 2} is not an epoch's record ({why}); skipped it, read the "
                f"other lines" for k, (_, why) in enumerate(NO_EPOCHS)]

    code, stdout, err = run(capsys, "report", str(folder))
    assert code == 0 and err.splitlines() == warnings and "per-epoch" not in stdout
    assert (folder / "figures" / "curves.png").is_file()
    assert [m["epoch"] for m in read_run(folder).metrics] == [1, 2, 3]
    capsys.readouterr()
    code, stdout, err = run(capsys, "compare", str(folder), "--out", str(tmp_path / "c.png"), "--json")
    assert code == 0 and err.splitlines() == warnings and (tmp_path / "c.png").is_file()
    assert json.loads(stdout)["runs"][0]["run"] == str(folder)


def test_json_nested_thousands_deep_in_a_run_costs_only_that_line_or_that_file(tmp_path, capsys):
    """A second stranger's probe: ``[`` x 100,000 as a line of metrics.jsonl made report, compare and diagnose end in
    ``internal error: RecursionError``. The line is skipped with a warning; a summary.json so nested is unreadable,
    said in one line."""
    folder = tmp_path / "run"
    folder.mkdir()
    deep = "[" * 100_000 + "]" * 100_000
    metrics = folder / "metrics.jsonl"
    metrics.write_text("\n".join(['{"epoch": 1, "loss": 1.0}', deep, '{"epoch": 2, "loss": 0.5}']) + "\n")
    code, _, err = run(capsys, "compare", str(folder), "--out", str(tmp_path / "c.png"))
    assert code == 0 and (tmp_path / "c.png").is_file()
    assert err.splitlines() == [f"matnet: warning: {metrics}: line 2 is not JSON (nested too deep); skipped it, "
                                f"read the other lines"]
    (folder / "summary.json").write_text(deep)
    code, _, err = run(capsys, "compare", str(folder), "--out", str(tmp_path / "d.png"))
    assert code == 0 and "internal error" not in err           # compare goes on without it, and says so
    assert f"the final figures ({folder / 'summary.json'} is unreadable: maximum recursion depth" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_compare_says_that_a_runs_metrics_are_a_named_pipe(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text('{"test_accuracy": 0.9, "epochs": 1}')
    os.mkfifo(folder / "metrics.jsonl")                               # no writer ever comes: a read would block
    code, stdout, err = run(capsys, "compare", str(folder), "--out", str(tmp_path / "c.png"))
    assert code == 0 and "90.00%" in stdout
    assert err.splitlines() == [f"matnet: warning: {folder}: the per-epoch metrics ({folder / 'metrics.jsonl'}: a "
                                f"named pipe (FIFO), not a file; matnet reads only regular files); compared without "
                                f"it"]


def test_info_on_a_model_whose_sizes_are_beyond_a_floats_range(tmp_path, capsys):
    """``"out_features": 1e308`` once made ``internal error: OverflowError: int too large to convert to float``."""
    model = tiny_model(tmp_path / "model")
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["layers"][0]["config"]["out_features"] = 1e308
    (tmp_path / "model.json").write_text(json.dumps(meta))
    code, stdout, err = run(capsys, "info", f"{model}.json")
    assert code == 1 and stdout == ""
    assert error_line(err) == f"matnet: error: {model}.json: its layers would make 7.8e+310 parameters or more, " \
                              f"but its 'parameters' entry declares 7,850"


def npz_bomb(path, members: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """An .npz whose members declare the given shapes and dtypes, their data deflated zeros (a few MB on disk for
    hundreds of MB declared): what an attacker would leave in a run folder."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, dtype) in members.items():
            header = np.lib.format.header_data_from_array_1_0(np.zeros((0,), dtype))
            header["shape"] = shape
            with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_1_0(out, header)
                block = bytes(2**22)
                left = int(np.prod(shape)) * np.dtype(dtype).itemsize
                while left:
                    out.write(block[:min(left, len(block))])
                    left -= min(left, len(block))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("bounded") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", ["metrics.jsonl", "summary.json", "steps.json", "layer_stats.json",
                                  "diagnosis.json", "config.toml"])
def test_a_run_file_made_huge_is_refused_unread(small_run, tmp_path, capsys, name):
    """`truncate -s 3G RUN/FILE` (a sparse file: no disk used), then the commands that read a run: the file is
    named as too large and left unread; the rest of the run is still shown."""
    import shutil

    run_folder = tmp_path / "run"
    shutil.copytree(small_run, run_folder)
    os.truncate(run_folder / name, 3 * 2**30)
    for command in (["diagnose", str(run_folder)], ["report", str(run_folder)], ["info", str(run_folder)]):
        code, stdout, err = run(capsys, *command)
        assert "MemoryError" not in err + stdout and "internal error" not in err
        assert code in (0, 1)
    from matnet.runfolder import RunFolder

    reader = {"metrics.jsonl": "read_metrics", "summary.json": "read_summary", "steps.json": "read_steps",
              "layer_stats.json": "read_layer_stats", "diagnosis.json": "read_diagnosis", "config.toml": "read_config"}
    with pytest.raises(MatnetError, match=f"{name}: more than [0-9,]+ bytes, far more than a run's {name} takes"):
        getattr(RunFolder(run_folder), reader[name])()


def test_a_predictions_or_checkpoint_bomb_is_refused_from_its_headers(small_run, tmp_path, capsys, monkeypatch):
    import shutil

    from matnet.runfolder import RunFolder
    from matnet.train.checkpoint import load_checkpoint

    run_folder = tmp_path / "run"
    shutil.copytree(small_run, run_folder)
    npz_bomb(run_folder / "predictions.npz", {"probabilities": ((70_000_000, 1), "<f4"), "labels": ((10,), "<i8")})
    assert (run_folder / "predictions.npz").stat().st_size < 2**20           # 280 MB declared in under 1 MB
    with pytest.raises(MatnetError, match="its arrays declare 280,000,080 bytes, more than a predictions file"):
        RunFolder(run_folder).read_predictions()
    code, _, err = run(capsys, "diagnose", str(run_folder))
    assert "MemoryError" not in err and "internal error" not in err
    monkeypatch.setenv("MATNET_MAX_PARAMS", "100000")                          # a checkpoint of 7.4 MB at most
    npz_bomb(tmp_path / "checkpoint.npz", {"meta": ((), "<U10"), "extra": ((10_000_000,), "<f4")})
    with pytest.raises(MatnetError, match="its arrays declare 40,000,040 bytes, more than a checkpoint can hold"):
        load_checkpoint(tmp_path / "checkpoint.npz")
