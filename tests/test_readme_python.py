"""Every ```python block of the README runs as written, in order, in one namespace (later blocks continue the
first, as the README says), in a scratch folder, on the cached MNIST."""

import ast
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


def test_no_python_block_of_the_readme_ends_in_a_value_that_a_script_would_drop():
    """A bare expression (``model.predict(x), model.predict_proba(x)``) shows its value in a notebook or the REPL
    and prints nothing when the block runs as a script: each is a call (which prints or acts) or a print."""
    dropped = [f"block {k}, line {node.lineno}: {ast.unparse(node)[:60]}"
               for k, block in enumerate(python_blocks(), start=1) for node in ast.parse(block).body
               if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call)]
    assert not dropped, f"README expressions a script drops (print them): {dropped}"
    assert "print(model.predict(image)" in README.read_text(encoding="utf-8")


def test_every_module_the_readme_imports_comes_with_what_it_tells_the_reader_to_install():
    """A reader has only `make demo` (the package and its dependencies) and the extras the README names
    (`pip install 'matnet[export]'`): each module a README block imports must come with one of them. (The ONNX
    block once imported onnxruntime, which the export extra lacked: the dev environment of the tests hid it.)"""
    import tomllib

    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    text = README.read_text(encoding="utf-8")
    named_extras = set(re.findall(r"matnet\[(\w+)\]", text))
    assert "export" in named_extras and "dev" not in named_extras
    requirements = project["dependencies"] + [r for extra in named_extras
                                              for r in project["optional-dependencies"][extra]]
    installed = {re.split(r"[<>=!;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}
    distribution = {"PIL": "pillow", "yaml": "pyyaml"}   # module -> the distribution that brings it
    standard = {"json", "math", "os", "pathlib", "re", "sys", "io", "time", "tomllib"}
    imported = set()
    for block in python_blocks():
        imported |= set(re.findall(r"^\s*import (\w+)", block, re.M)) | set(re.findall(r"^\s*from (\w+)", block, re.M))
    missing = sorted(m for m in imported - standard - {"matnet"}
                     if distribution.get(m, m).lower().replace("_", "-") not in installed)
    assert not missing, f"README blocks import {missing}, which nothing the README installs brings"
