"""The fastcnn (the speedrun preset's network): its layers and parameters counted by hand, its rules, and the
preset learning on real data."""

import numpy as np
import pytest

from matnet.architectures import build_fastcnn
from matnet.config import PRESETS, TrainConfig
from matnet.errors import MatnetError
from matnet.run import train_run


def test_layers_shapes_and_parameters_by_hand():
    model = build_fastcnn(filters=(16, 32), dense=64)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense", "ReLU", "Dense"]
    first = model.layers[0]
    assert (first.kernel_size, first.stride, first.padding) == (5, 2, 2) and model.layers[2].padding == 0
    shapes = [out.shape for _, out in model.trace(np.zeros((2, 1, 28, 28), np.float32))]
    assert shapes[0] == (2, 16, 14, 14) and shapes[2] == (2, 32, 12, 12) and shapes[3] == (2, 32, 6, 6)
    assert shapes[5] == (2, 1152)
    assert shapes[-1] == (2, 10)
    # conv 5x5 1->16 with biases, conv 3x3 16->32 with biases, dense 1152->64, dense 64->10
    assert model.num_params == (16 * 25 + 16) + (32 * 16 * 9 + 32) + (1152 * 64 + 64) + (64 * 10 + 10)
    assert build_fastcnn(filters=(8, 8), dense=0).num_params == (8 * 25 + 8) + (8 * 8 * 9 + 8) + (8 * 6 * 6 * 10 + 10)


def test_odd_image_sizes_and_bad_filters():
    assert build_fastcnn((27, 13), 3).predict_proba(np.zeros((1, 1, 27, 13), np.float32)).shape == (1, 3)
    assert build_fastcnn((7, 7), 2).predict_proba(np.zeros((1, 1, 7, 7), np.float32)).shape == (1, 2)
    with pytest.raises(ValueError, match="at least 7x7"):
        build_fastcnn((6, 28))
    with pytest.raises(ValueError, match="two positive channel counts"):
        build_fastcnn(filters=(16, 32, 64))
    with pytest.raises(MatnetError, match="the fastcnn"):
        build_fastcnn(filters=(16, 4096), dense=4096, max_params=1000)


def test_the_speedrun_preset_learns(tmp_path, mnist):
    config = TrainConfig.from_dict({**PRESETS["speedrun"], "subset": 3000, "val_size": 1000, "epochs": 1,
                                    "out": str(tmp_path / "run")})
    summary = train_run(config, progress=False)
    print(f"\nspeedrun: {100 * summary['test_accuracy']:.2f}% after 1 epoch on 3,000 images")
    assert summary["test_accuracy"] > 0.85


def test_label_smoothing_reaches_the_trainers_loss():
    from matnet.architectures import build_mlp
    from matnet.run import make_trainer

    model = build_mlp([784, 16, 10])
    assert make_trainer(TrainConfig(label_smoothing=0.2), model, (28, 28)).loss.label_smoothing == 0.2
    assert make_trainer(TrainConfig(), model, (28, 28)).loss.label_smoothing == 0.0


def test_the_speedrun_preset_from_the_command_line(tmp_path, capsys, mnist):
    """The first line names the network and the label smoothing; a run with no validation images is read by the
    other commands."""
    import json

    from matnet.cli.main import main

    out = tmp_path / "sr"
    code = main(["train", "--preset", "speedrun", "--subset", "1000", "--epochs", "1", "--out", str(out)])
    first = capsys.readouterr().out.splitlines()[0]
    assert code == 0
    assert first == (f"training fastcnn (filters 16,32, dense 64) on mnist (first 1,000 training images) with adam, "
                     f"lr 0.005 (cosine), label smoothing 0.1, 1 epoch -> {out}")
    assert main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == json.loads((out / "summary.json").read_text())[
        "test_accuracy"]
