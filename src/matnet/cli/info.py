"""``matnet info``: what a model is, how it was trained, and how well it did."""

from __future__ import annotations

from pathlib import Path

import click

from matnet.backend import device_info
from matnet.cli.common import DEVICE_OPTION, echo, echo_json, open_model
from matnet.errors import MatnetError
from matnet.runfolder import find_run


def _not_used_by(model: str, optimizer: str = "momentum") -> set[str]:
    """Settings a config always holds but this architecture or optimizer ignores (and ``out``, the folder)."""
    sizes = {"mlp": {"filters", "dense"}, "cnn": {"layers", "activation"}, "fastcnn": {"layers", "activation"},
             "resnet": {"layers", "activation", "filters", "dense"}}
    momentum = set() if optimizer in ("momentum", "nesterov") else {"momentum"}
    return {"out"} | sizes.get(model, set()) | momentum


def _optional(read):
    """What ``read()`` gives, or None when the file is missing or unreadable (info shows what there is)."""
    try:
        return read()
    except (FileNotFoundError, MatnetError):
        return None


def _device_line(device: dict) -> str:
    """``device: cuda (NVIDIA H200), cupy 14.2.0, CUDA driver 13.0`` or ``device: cpu (numpy 2.2.1)``."""
    where = f"{device['device']} ({device['gpu']})" if "gpu" in device else device["device"]
    driver = f", CUDA driver {device['cuda_driver']}" if "cuda_driver" in device else ""
    return f"device: {where}, {device['array module']}{driver}"


@click.command()
@click.argument("model", metavar="[MODEL_OR_RUN]", required=False, type=click.Path())
@DEVICE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(model, as_json):
    """The architecture, parameter count, training configuration and final figures of MODEL_OR_RUN, and the
    device the math runs on (alone, without MODEL_OR_RUN: `matnet info --device cuda` names the GPU, CuPy's
    and the CUDA driver's versions)."""
    device = device_info()
    if model is None:
        if as_json:
            echo_json({"device": device})
        else:
            echo(_device_line(device))
        return
    net = open_model(model)
    path = Path(model)
    run = find_run(path)
    config = _optional(run.read_config) if run else None
    summary = _optional(run.read_summary) if run else None
    if as_json:
        echo_json({"model": str(path), "parameters": net.num_params, "input_shape": list(net.input_shape),
                   "layers": [{"name": layer.name, "type": type(layer).__name__, **layer.config()}
                              for layer in net.layers],
                   "classes": list(net.classes), "preprocessing": net.preprocessing,
                   "config": config, "summary": summary, "device": device})
        return
    echo(net.summary_text(), lines=True)
    echo(f"classes: {', '.join(net.classes)}")
    if config:
        echo("training: " + ", ".join(f"{key} {value}" for key, value in config.items()
                                            if key not in _not_used_by(config.get("model", "mlp"),
                                                                       config.get("optimizer", "momentum"))))
    if summary:
        echo(f"test accuracy {100 * summary['test_accuracy']:.2f}%  test loss {summary['test_loss']:.4f}  "
                   f"after {summary['epochs']} epoch{'s' if summary['epochs'] != 1 else ''} "
                   f"({summary['train_seconds']:.1f}s"
                   f"{', on ' + summary['device'] if 'device' in summary else ''})")
    echo(_device_line(device))
