"""Several runs side by side: learning curves overlaid in one figure, and a table of their final figures."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matnet.fileio import atomic_path, write_text  # noqa: E402
from matnet.reports.figures import DPI, WIDE, series  # noqa: E402
from matnet.runfolder import RunData, read_run, warn  # noqa: E402

__all__ = ["compare_runs", "rows", "overlay", "comparison_html", "differing", "settings_text"]

COLUMNS = ("run", "test_accuracy", "test_loss", "epochs", "train_seconds", "settings")


def differing(runs: list[RunData]) -> list[str]:
    """The config keys (in the config's order) whose values are not the same in every run, ``out`` aside (a run
    without a readable config has none of them)."""
    configs = [run.config or {} for run in runs]
    keys = list(dict.fromkeys(key for config in configs for key in config))
    return [key for key in keys if key != "out" and len({repr(config.get(key)) for config in configs}) > 1]


def settings_text(settings: dict) -> str:
    """``{"optimizer": "sgd", "layers": [784, 100, 10]}`` -> ``optimizer sgd, layers 784,100,10``."""
    def shown_value(value):
        return "-" if value is None else ",".join(map(str, value)) if isinstance(value, list) else f"{value:g}" \
            if isinstance(value, float) else str(value)
    return ", ".join(f"{key} {shown_value(value)}" for key, value in settings.items())


def rows(runs: list[RunData]) -> list[dict]:
    """One row per run: its final figures (None where the run has none), and ``settings``, its values of the
    settings that differ between the runs (``differing``)."""
    keys = differing(runs)
    return [{"run": str(run.folder.path), **{key: (run.summary or {}).get(key) for key in COLUMNS[1:-1]},
             "settings": {key: (run.config or {}).get(key) for key in keys}} for run in runs]


def overlay(runs: list[RunData], path: Path) -> Path:
    """Validation (dashed: training) loss and accuracy per epoch, one colour per run."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=WIDE)
    for i, run in enumerate(runs):
        color = f"C{i}"
        validated = any("val_loss" in m for m in run.metrics)
        label = None if validated else run.name         # a run without validation is named by its training line
        ax_loss.plot(*series(run.metrics, "loss"), "--", color=color, alpha=0.6, label=label)
        ax_acc.plot(*series(run.metrics, "acc", 100), "--", color=color, alpha=0.6, label=label)
        if validated:
            ax_loss.plot(*series(run.metrics, "val_loss"), "-", color=color, label=run.name)
            ax_acc.plot(*series(run.metrics, "val_acc", 100), "-", color=color, label=run.name)
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss (solid: validation, dashed: training)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:          # no run with a curve: no legend (matplotlib would warn)
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def _cell(key, value) -> str:
    if value is None:
        return "-"
    if key == "test_accuracy":
        return f"{100 * value:.2f}%"
    if key == "test_loss":
        return f"{value:.4f}"
    if key == "train_seconds":
        return f"{value:.1f}"
    if key == "settings":
        return settings_text(value) or "-"
    return str(value)


def comparison_html(table: list[dict], figure: Path) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(c, row[c]))}</td>" for c in COLUMNS) + "</tr>"
                   for row in table)
    image = base64.b64encode(figure.read_bytes()).decode("ascii")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>matnet: comparison of {len(table)} runs</title>'
            f"<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:auto;padding:16px}}"
            f"img{{width:100%;height:auto}}table{{border-collapse:collapse;width:100%}}"
            f"td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}}"
            f"td:first-child,th:first-child{{text-align:left}}.s{{overflow-x:auto}}</style></head><body>"
            f"<h1>Comparison of {len(table)} runs</h1><img alt=\"learning curves\" "
            f"src=\"data:image/png;base64,{image}\"><div class=\"s\"><table id=\"runs\"><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table></div></body></html>\n")


def compare_runs(folders, figure: str | Path, html_path: str | Path | None = None) -> list[dict]:
    """Read the runs (never writing into them), draw ``figure``, and write ``html_path`` if given."""
    runs = [read_run(folder) for folder in folders]
    for run in runs:                      # a file that is there but unreadable (a FIFO): said, as report does
        for what in run.unreadable:
            warn(f"{run.folder.path}: {what}; compared without it")
    table = rows(runs)
    overlay(runs, Path(figure))
    if html_path:
        write_text(html_path, comparison_html(table, Path(figure)))
    return table
