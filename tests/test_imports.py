"""The package's modules import one another one way only: no import circle, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import matnet

ROOT = Path(matnet.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 more
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from a.b import c`` imports the module a.b.c when there is one, else a name from a.b
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imports_parse_as_expected():
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    assert "matnet.nn.layer" in graph["matnet.nn.residual"]
    assert "matnet.nn.residual" in graph["matnet.nn.registry"]


def test_no_module_of_the_package_imports_itself_back():
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The layout that docs/contributing.md ("Layout") draws: each part imports only from parts before it (or its own part).
LAYERS = [
    {"matnet.backend", "matnet.strict", "matnet.errors", "matnet.fileio", "matnet.config_file", "matnet.terminal"},
    {"matnet.data"},
    {"matnet.nn"},
    {"matnet.optim"},
    {"matnet.train"},
    {"matnet.model", "matnet.model_format", "matnet.model_file", "matnet.architectures", "matnet.verdicts"},
    {"matnet.runfolder"},
    {"matnet.config", "matnet.run"},
    {"matnet.reports", "matnet.export", "matnet.serve"},
    {"matnet.cli", "matnet.__main__"},
    {"matnet"},      # the package's front door imports from anywhere below the command line
]


def part_of(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names if name != "matnet"):
            return rank
    assert module == "matnet", f"{module} belongs to no part of the layout: add it to LAYERS and docs/contributing.md"
    return len(LAYERS) - 1


def test_every_import_points_down_the_layout():
    upward = []
    for name, path in MODULES.items():
        for target in imported(name, path):
            if target == "matnet" and part_of(name) < part_of("matnet"):
                continue  # ``from matnet import __version__``: a constant of the package, not its imports
            if part_of(target) > part_of(name):
                upward.append(f"{name} -> {target}")
    assert not upward, "imports against the layout: " + ", ".join(upward)


def test_the_contributing_page_draws_the_same_layout():
    page = (ROOT.parent.parent / "docs" / "contributing.md").read_text(encoding="utf-8")
    drawn = ("backend → data → nn → optim → train → model, model_file → runfolder → config, run → reports, export, "
             "serve → cli")
    assert drawn in page
    assert drawn.replace("→", "->") in " ".join(matnet.__doc__.split())


# --- the backend's claim: the math takes its arrays from ``xp``; NumPy itself only for names and host work ------
MATH = ("matnet.nn", "matnet.optim", "matnet.train", "matnet.data.augment", "matnet.data.writers",
        "matnet.data.prepare", "matnet.model")
NAMES = {"float32", "float64", "int64", "intp", "dtype", "integer", "ndarray", "bool_", "generic", "inf", "nan",
         "finfo",
         "random",      # host generators: the batch order and the initial weights (the same on every device)
         "errstate"}    # NumPy's warnings about a NaN, which the trainer reports itself
# Modules of the math path that do NumPy work on the host, and why (``matnet/backend.py`` says the same).
HOST_WORK = {
    "matnet.nn.gradcheck": "finite differences compared on the host in float64 (a test tool, not training)",
    "matnet.nn.init": "initial weights drawn on the host, so that a seed gives the same weights on every device",
    "matnet.nn.network": "predict returns NumPy arrays: the empty result is made on the host",
    "matnet.train.checkpoint": "the checkpoint file (NumPy's .npz)",
    "matnet.train.diagnose": "its checks read host copies once an epoch or once a run",
    "matnet.train.lr_find": "the range test's curve: a few hundred numbers on the host",
    "matnet.train.metrics": "the confusion matrix and per-class scores, from predictions on the host",
    "matnet.data.prepare": "dataset arrays as they are read, before they move to the device once",
    "matnet.data.augment": "the coordinate grid, made once on the host and moved once; which images the writers "
                           "option changes, and how, chosen on the host",
    "matnet.data.writers": "the per-image settings and the blocky scan's matrices, made on the host and moved once",
}


def numpy_calls(path: Path) -> set[str]:
    """The attributes of ``np``/``numpy`` that a module uses."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
            found.add(node.attr)
    return found


def test_the_math_uses_numpy_only_for_names_or_declared_host_work():
    math_modules = {name: path for name, path in MODULES.items()
                    if any(name == part or name.startswith(part + ".") for part in MATH)}
    assert "matnet.nn.dense" in math_modules and "matnet.train.trainer" in math_modules
    undeclared = {name: sorted(numpy_calls(path) - NAMES) for name, path in math_modules.items()
                  if numpy_calls(path) - NAMES and name not in HOST_WORK}
    assert not undeclared, f"NumPy math outside xp (use xp, or declare the host work in HOST_WORK): {undeclared}"
    stale = [name for name in HOST_WORK if not numpy_calls(MODULES[name]) - NAMES]
    assert not stale, f"HOST_WORK lists modules that do no NumPy work: {stale}"


def test_no_module_takes_another_module_s_private_names():
    """A name with a leading underscore is its module's own: one that another module needs is made public where
    it belongs (``matnet.cli.common.new_config``, once ``cli.train._new_config`` imported by ``cli.lr_find``)."""
    taken = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matnet"):
                taken += [f"{name} <- {node.module}.{alias.name}" for alias in node.names
                          if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not taken, "private names imported: " + ", ".join(taken)


def test_the_config_record_does_not_import_the_model():
    """``matnet.config`` is a record of settings: the model's names and rules are the model builders' (checked by
    ``matnet.run.build_model``), so the config needs nothing of ``matnet.model`` or ``matnet.model_file``."""
    assert not {m for m in imported("matnet.config", MODULES["matnet.config"]) if m.startswith("matnet.model")}
