"""``matnet export``: a model as an ONNX file, or as C99 source that needs nothing but a C compiler."""

from __future__ import annotations

import click

from matnet.cli.common import MODEL_ARG, echo, echo_json, open_model
from matnet.export.c_export import C_FILES, CC, export_c
from matnet.export.onnx_export import INPUT, OUTPUT, export_onnx

__all__ = ["export"]


@click.command(epilog=f"""\b
onnx: OUT is a file. Input '{INPUT}' (N x 784 for an MLP, N x 1 x 28 x 28 for a CNN; N free),
      output '{OUTPUT}' (a Softmax is added: matnet models output logits). Every matnet layer;
      BatchNorm stays BatchNormalization (inference form: running statistics), Dropout is left out.
      Class names and preprocessing go into the metadata. Needs onnx: pip install onnx.
c:    OUT is a folder: {', '.join(C_FILES)}, C99 with no dependency beyond the standard library:
      int matnet_predict(const float image[784], float probabilities[10]);
      main.c classifies 8-bit PGM images (P5 or P2). Build in OUT with
      {CC}
      Layers: Dense, Conv2D, MaxPool2D, Flatten, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax;
      BatchNorm is folded into the Conv2D or Dense layer before it; Dropout is left out.""")
@MODEL_ARG
@click.option("--format", "fmt", type=click.Choice(["onnx", "c"]), required=True, help="What to write.")
@click.option("-o", "--out", required=True, type=click.Path(),
              help="The file to write (onnx), or the folder (c); its parent folder must exist.")
@click.option("--force", is_flag=True, help="Replace an existing file (onnx) or write into a folder that is not "
                                            "empty (c: replaces the three files, nothing else).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export(model, fmt, out, force, as_json):
    """Export MODEL_OR_RUN (a model file or a run folder) as ONNX or as C source."""
    net = open_model(model)
    if fmt == "onnx":
        paths = [export_onnx(net, out, force=force, source=model, replace_own=False)]
    else:
        paths = export_c(net, out, force=force, source=model, replace_own=False)
    if as_json:
        echo_json({"format": fmt, "files": [str(p) for p in paths]})
        return
    for path in paths:
        echo(f"wrote {path}")
    if fmt == "c":
        echo(f"build: cd {out} && {CC}")
