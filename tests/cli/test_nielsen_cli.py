"""Nielsen's network from the command line: the first line says what trains (on which images), the commands that
read a run (and the server) work on an MSE run, the exports refuse its scores in one line, and compare names what
differs."""

import json

import numpy as np
from fastapi.testclient import TestClient

from matnet import load_model
from matnet.cli.main import main
from matnet.serve import create_app, load_models

SMALL = ["--preset", "nielsen", "--subset", "2000", "--val-size", "500", "--epochs", "1"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_mse_run_through_every_command(tmp_path, capsys, mnist):
    first, second = tmp_path / "a", tmp_path / "b"
    code, out, _ = run(capsys, "train", *SMALL, "--out", str(first))
    assert code == 0
    assert out.splitlines()[0] == (f"training 784,100,10 (sigmoid, sigmoid output, mse) on mnist (first 2,000 "
                                   f"training images) with sgd, lr 15 (constant), 1 epoch -> {first}")
    assert run(capsys, "train", *SMALL, "--lr", "5", "--batch-size", "20", "--out", str(second))[0] == 0

    code, out, _ = run(capsys, "evaluate", str(first), "--json")
    summary = json.loads((first / "summary.json").read_text())
    assert code == 0 and json.loads(out)["loss"] == summary["test_loss"] < 0.1        # an MSE, not a cross-entropy
    code, out, err = run(capsys, "predict", str(first), "examples/seven-shadow.png")
    assert code == 0 and out.startswith("examples/seven-shadow.png: ")
    assert "trained under mse with a sigmoid output: each percentage is a class's score divided by the sum" in err
    for fmt, target in (("onnx", tmp_path / "m.onnx"), ("c", tmp_path / "c")):
        code, _, err = run(capsys, "export", str(first), "--format", fmt, "--out", str(target))
        assert code == 1 and err.count("\n") == 1 and "supports softmax outputs only" in err and not target.exists()
    assert run(capsys, "report", str(first))[0] == 0
    code, out, _ = run(capsys, "gradcheck", str(first), "--json")           # under MSE, through the output Sigmoid
    assert code == 0 and all(check["passed"] for check in json.loads(out))

    image = (mnist.test_images[0] / 255.0).tolist()                  # the server's scores: the same normalisation
    with TestClient(create_app(load_models([first])), base_url="http://127.0.0.1") as client:
        answer = client.post("/api/predict", json=image).json()
    expected = load_model(first).predict_proba(np.asarray(image, np.float32).reshape(1, 784))[0]
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-5)
    assert abs(sum(answer["probabilities"]) - 1) < 1e-5

    code, out, _ = run(capsys, "compare", str(first), str(second), "--out", str(tmp_path / "cmp.png"))
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("settings that differ")
    assert lines[1].endswith("lr 15, batch_size 10") and lines[2].endswith("lr 5, batch_size 20")
    code, out, _ = run(capsys, "compare", str(first), str(second), "--out", str(tmp_path / "cmp2.png"), "--json")
    assert [row["settings"] for row in json.loads(out)["runs"]] == [{"lr": 15.0, "batch_size": 10},
                                                                    {"lr": 5.0, "batch_size": 20}]
