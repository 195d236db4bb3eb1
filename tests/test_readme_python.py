"""Every ```python block of the README runs as written, in order, in one namespace (later blocks continue the
first, as the README says), in a scratch folder, on the cached MNIST."""

import re
from pathlib import Path

import matplotlib

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, mnist, capsys):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert len(blocks) >= 5
    namespace = {"__name__": "readme"}
    for k, block in enumerate(blocks, start=1):
        exec(compile(block, f"README.md python block {k}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Total params: 109,386" in out and "epoch 2/2" in out and "evaluate  loss" in out
    assert {"digits.npz", "digits.json", "digits-cnn.npz", "seven.png", "neuron_0.png"} <= \
        {p.name for p in tmp_path.iterdir()}
    assert namespace["model"].predict(namespace["image"]).tolist() == [7]    # the drawn seven is read as a 7
