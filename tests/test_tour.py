"""docs/tour.md: every ```python block runs, in order, in one namespace, in a temporary folder."""

from __future__ import annotations

import re
from pathlib import Path

TOUR = Path(__file__).resolve().parents[1] / "docs" / "tour.md"


def test_every_tour_snippet_runs_in_order(tmp_path, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", TOUR.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 10
    namespace = {"__name__": "tour"}
    for k, code in enumerate(blocks, 1):
        exec(compile(code, f"{TOUR.name} block {k}", "exec"), namespace)
