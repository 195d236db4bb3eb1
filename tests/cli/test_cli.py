"""The command line as a user meets it: real processes, their exit codes and what they print."""

import json
import re
import os
import subprocess
import sys

import pytest

from support import make_idx_dir


def matnet(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "matnet.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", [[], ["train"], ["data"], ["data", "fetch"], ["data", "info"], ["gradcheck"],
                                     ["evaluate"], ["predict"], ["info"]])
def test_every_command_has_help(command):
    done = matnet(*command, "--help")
    assert done.returncode == 0 and "Usage: matnet" in done.stdout


def test_train_help_lists_the_flags_scripts_rely_on():
    text = matnet("train", "--help").stdout
    for flag in ("--layers", "--activation", "--optimizer", "--lr", "--schedule", "--warmup", "--weight-decay",
                 "--batch-size", "--epochs", "--seed", "--dataset", "--subset", "--out"):
        assert flag in text
    for choice in ("sgd|momentum|nesterov|adam|adamw", "constant|step|exp|cosine"):
        assert choice in text.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("args,message", [
    (["train", "--bogus"], "No such option '--bogus'"),
    (["train", "--lr", "fast"], "Invalid value for '--lr'"),
    (["train", "--layers", "784,x,10"], "not a comma-separated list"),
    (["train", "--epochs", "zero"], "Invalid value for '--epochs'"),
    (["trian"], "No such command 'trian'"),
    (["data", "fetch", "mnist", "--sha256", "nope"], "not PART=SHA256"),
])
def test_bad_flags_give_one_line_and_exit_2(args, message):
    done = matnet(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("matnet: error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_runtime_errors_give_one_line_and_exit_1(tmp_path):
    env = {"MATNET_CACHE": str(tmp_path / "cache")}
    for args, message in [(["data", "fetch", "nope"], "unknown dataset 'nope'"),
                          (["train", "--dataset", "nope", "--out", str(tmp_path / "r")], "unknown dataset 'nope'"),
                          (["data", "info", "nope"], "not in the cache")]:
        done = matnet(*args, env=env)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("args,message", [
    (["--lr", "-1"], "settings: learning rate must be a positive number, got -1.0"),
    (["--optimizer", "rmsprop"], "settings: unknown optimizer 'rmsprop'; choose one of sgd, momentum, nesterov, "
                                 "adam, adamw"),
    (["--momentum", "1"], "settings: momentum must be in [0, 1), got 1.0"),
    (["--dropout", "1"], "settings: Dropout(p=1.0): p must be in [0, 1)"),
    (["--epochs", "0"], "settings: epochs must be at least 1, got 0"),
    (["--batch-size", "0"], "settings: batch size must be at least 1, got 0"),
    (["--dense", "0"], "settings: dense must be positive, got 0"),
    (["--seed", "-1"], "settings: seed must be a number >= 0, got -1"),
    (["--clip-norm", "-1"], "settings: clip-norm must be a number >= 0, got -1.0"),
    (["--clip-norm", "nan"], "settings: clip-norm must be a number >= 0, got nan"),
    (["--lr", "nan"], "settings: learning rate must be a positive number, got nan"),
    (["--weight-decay", "inf"], "settings: weight decay must be a number >= 0, got inf"),
    (["--subset", "-5"], "settings: subset must be a number >= 0, got -5"),
    (["--loss", "l1"], "settings: unknown loss 'l1'; choose one of cross-entropy, mse"),
    (["--loss", "mse", "--output", "tanh"], "settings: unknown output 'tanh'; choose one of softmax, sigmoid, "
                                             "linear"),
    (["--output", "sigmoid"], "settings: output sigmoid with loss cross-entropy: cross-entropy takes logits and "
                              "applies the softmax itself, so its output is softmax; use loss mse for a sigmoid "
                              "output"),
    (["--label-smoothing", "1"], "settings: label smoothing must be in [0, 1), got 1.0"),
    (["--loss", "mse", "--output", "sigmoid", "--label-smoothing", "0.1"],
     "settings: label smoothing is for the cross-entropy loss, not mse"),
    (["--init", "zeros"], "settings: unknown initialiser 'zeros'; choose one of auto, he_normal, he_uniform, "
                          "xavier_normal, xavier_uniform, normal"),
])
def test_a_setting_a_constructor_refuses_gives_its_one_line_and_exit_2(args, message, tmp_path):
    """The command line only parses these numbers and names; the rule, and its words, are the constructor's (or
    the config's); a bad value exits 2, as the README says."""
    done = matnet("train", *args, "--out", str(tmp_path / "r"), env={"MATNET_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"matnet: error: {message}"] and done.stdout == ""
    assert not (tmp_path / "r").exists() and not (tmp_path / "cache").exists()   # refused before any data


def test_gradcheck_command_passes():
    done = matnet("gradcheck", "--json")
    assert done.returncode == 0
    results = json.loads(done.stdout)
    assert len(results) >= 10 and all(r["passed"] and r["worst"] < 1e-6 for r in results)


@pytest.mark.slow
def test_own_data_fetch_info_and_train(tmp_path):
    env = {"MATNET_CACHE": str(tmp_path / "cache")}
    make_idx_dir(tmp_path / "idx", n_train=300, n_test=100, shape=(6, 6), classes=4)
    done = matnet("data", "fetch", "blobs", "--idx-dir", str(tmp_path / "idx"), env=env)
    assert done.returncode == 0 and "cached at" in done.stdout, done.stderr
    info = json.loads(matnet("data", "info", "--json", env=env).stdout)
    assert info["datasets"][0]["name"] == "blobs" and info["datasets"][0]["image_shape"] == [6, 6]
    out = tmp_path / "run"
    done = matnet("train", "--dataset", "blobs", "--layers", "36,16,4", "--val-size", "50", "--epochs", "15",
                  "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("epoch ") == 15 and "test accuracy" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.9          # the classes differ in brightness: easy to learn
    assert (out / "model.npz").exists() and len((out / "metrics.jsonl").read_text().splitlines()) == 15


@pytest.mark.slow
def test_epoch_lines_show_what_the_issue_asks(tmp_path, mnist):
    done = matnet("train", "--subset", "2000", "--epochs", "2", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("epoch 1/2")][0]
    assert re.fullmatch(r"epoch 1/2  loss \d\.\d{4}  acc \d+\.\d\d%  val_loss \d\.\d{4}  val_acc \d+\.\d\d%  "
                        r"lr \d\.\d\de[-+]\d\d  \d+\.\ds  ~\d+(s|m \d\ds) left", line), line


@pytest.mark.slow
def test_training_on_every_image_without_a_validation_set(tmp_path, mnist):
    out = tmp_path / "r"
    done = matnet("train", "--subset", "1000", "--val-size", "0", "--epochs", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "val_acc" not in done.stdout and "test accuracy" in done.stdout
    assert (out / "report.html").exists() and (out / "best.npz").exists()   # best by training loss instead


@pytest.mark.slow
def test_flags_override_the_config_file(tmp_path, mnist):
    config = tmp_path / "run.toml"
    config.write_text('subset = 600\nepochs = 4\noptimizer = "adam"\nlr = 0.002\nval_size = 500\n'
                      f'out = "{tmp_path / "from-file"}"\n')
    out = tmp_path / "from-flags"
    done = matnet("train", "--config", str(config), "--epochs", "2", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["run"] == str(out) and summary["epochs"] == 2 and summary["train_size"] == 600
    import tomllib
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert (resolved["epochs"], resolved["subset"], resolved["optimizer"], resolved["lr"]) == (2, 600, "adam", 0.002)
    assert not (tmp_path / "from-file").exists()


def test_config_file_errors_are_one_line(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("epochs = 'many'\n")
    done = matnet("train", "--config", str(config))
    assert done.returncode == 2                          # a bad value, as for a flag
    assert done.stderr.strip() == f"matnet: error: {config}: key 'epochs' must be an integer, got 'many'"


def test_data_fetch_json(tmp_path):
    env = {"MATNET_CACHE": str(tmp_path / "cache")}
    make_idx_dir(tmp_path / "idx", n_train=30, n_test=10, shape=(5, 5), classes=3)
    done = matnet("data", "fetch", "mine", "--idx-dir", str(tmp_path / "idx"), "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["fetched"] and result["train"] == 30 and result["image_shape"] == [5, 5]
    assert json.loads(matnet("data", "fetch", "mine", "--json", env=env).stdout)["fetched"] is False


@pytest.mark.parametrize("value", ["nonsense", "cuda", "CUPY"])
def test_a_backend_variable_that_cannot_be_used_is_one_line_and_exit_2(value):
    """MATNET_BACKEND naming no device, or a GPU without CuPy: --help still works, a command that runs a model
    says so in one line (exit 2, JSON with --json), and --device overrides the variable."""
    import importlib.util

    if value != "nonsense" and importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    env = {"MATNET_BACKEND": value}
    assert matnet("--help", env=env).returncode == 0
    done = matnet("gradcheck", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"matnet: error: MATNET_BACKEND='{value}': ") and "--device" in done.stderr
    as_json = matnet("gradcheck", "--json", env=env)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2
    assert matnet("gradcheck", "--device", "cpu", "--json", env=env).returncode == 0


@pytest.mark.parametrize("out", ["", "  "])
def test_an_empty_out_is_refused_not_the_current_folder(out, tmp_path, monkeypatch, capsys):
    from matnet.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", "--epochs", "1", "--subset", "100", "--val-size", "50", "--out", out]) == 2
    message = f"matnet: error: settings: out must name a folder for the run, got {out!r}"
    assert capsys.readouterr().err.strip() == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_from_before_other_writers_resumes_without_them(tmp_path):
    """A run folder's config.toml lists every setting; one without ``writers`` was trained before the option
    existed, so --resume continues it with none (not the demo's default)."""
    from matnet.cli.train import _saved_config
    from matnet.config import TrainConfig, config_toml

    text = config_toml(TrainConfig(out=str(tmp_path)))
    (tmp_path / "config.toml").write_text(text)
    assert _saved_config(tmp_path).writers == TrainConfig().writers == 0.6
    (tmp_path / "config.toml").write_text("\n".join(line for line in text.splitlines()
                                                    if not line.startswith("writers")))
    assert _saved_config(tmp_path).writers == 0.0


def test_a_validation_size_the_data_cannot_hold_is_a_setting_error(tmp_path, mnist):
    """--val-size 60000 on MNIST's 60,000 training images exited 1 with words that named no flag."""
    done = matnet("train", "--subset", "500", "--epochs", "1", "--val-size", "60000", "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["matnet: error: settings: val-size must be below the 60,000 "
                                                "training images (it holds them out of training), got 60,000"]
    assert not (tmp_path / "r").exists()
