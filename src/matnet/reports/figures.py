"""The figures of a run, one function each, drawn with matplotlib's Agg backend (no display needed).

Every figure has a fixed size (``SIZE`` inches at ``DPI``), so its PNG's pixel size is known in advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from matnet.fileio import atomic_path  # noqa: E402

__all__ = ["DPI", "Figure", "curves", "series", "learning_rate", "confusion", "per_class_bars", "first_layer",
           "gallery", "mistakes", "layer_health", "mosaic", "smooth"]

DPI = 100
WIDE, SQUARE, GRID = (10, 4), (6.4, 5.6), (10, 6)


@dataclass
class Figure:
    name: str       # file stem, e.g. "curves"
    title: str
    caption: str
    path: Path


def _save(fig, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def smooth(values, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, debiased so that the first values are not pulled towards zero."""
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def series(metrics: list[dict], key: str, scale: float = 1.0) -> tuple[list, list]:
    """(epochs, values * scale) of the epochs whose record holds ``key`` (``acc`` and the validation figures may be
    absent from some)."""
    held = [m for m in metrics if key in m]
    return [m["epoch"] for m in held], [scale * m[key] for m in held]


def curves(metrics: list[dict], steps: dict | None, path: Path) -> Path:
    """Loss and accuracy per epoch, train and validation; the per-step loss, smoothed, behind the loss."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=WIDE)
    if steps and steps.get("loss"):
        t = np.arange(1, len(steps["loss"]) + 1) / steps["steps_per_epoch"]
        ax_loss.plot(t, steps["loss"], color="tab:blue", alpha=0.15, lw=0.6, label="train (per batch)")
        ax_loss.plot(t, smooth(steps["loss"]), color="tab:blue", alpha=0.6, lw=1, label="train (smoothed)")
    ax_loss.plot(*series(metrics, "loss"), "o-", color="tab:blue", ms=3, label="train (epoch)")
    if any("val_loss" in m for m in metrics):
        ax_loss.plot(*series(metrics, "val_loss"), "o-", color="tab:orange", ms=3, label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    ax_acc.plot(*series(metrics, "acc", 100), "o-", ms=3, label="train")
    if any("val_acc" in m for m in metrics):
        ax_acc.plot(*series(metrics, "val_acc", 100), "o-", ms=3, label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def learning_rate(steps: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=WIDE)
    t = np.arange(1, len(steps["lr"]) + 1) / steps["steps_per_epoch"]
    ax.plot(t, steps["lr"], color="tab:green")
    ax.set(xlabel="epoch", ylabel="learning rate", title="Learning rate over training")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: np.ndarray, classes, path: Path) -> Path:
    """Counts in every cell; rows are the true class, columns the predicted one."""
    k = len(matrix)
    fig, ax = plt.subplots(figsize=SQUARE)
    image = ax.imshow(matrix, cmap="Blues", norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(matrix.max(), 2)))
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                dark = matrix[i, j] > matrix.max() ** 0.5
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class",
           title=f"Test confusion matrix ({matrix.sum():,} images)")
    ax.set_xticklabels(classes, rotation=45 if max(map(len, classes)) > 2 else 0, ha="right", fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, label="count (log scale)")
    fig.tight_layout()
    return _save(fig, path)


def per_class_bars(scores: dict, classes, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=WIDE)
    x, width = np.arange(len(classes)), 0.27
    for i, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (i - 1) * width, 100 * np.asarray(scores[key]), width, label=key)
    low = 100 * min(float(np.min(scores[key])) for key in ("precision", "recall", "f1"))
    ax.set(xticks=x, ylim=(max(0, low - 5), 100.5), ylabel="%", title="Per-class precision, recall and F1 (test)")
    ax.set_xticklabels(classes, fontsize=8)
    ax.legend(fontsize=8, ncols=3)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def mosaic(tiles: np.ndarray, columns: int, pad: float = np.nan) -> np.ndarray:
    """(n, h, w) tiles -> one (rows*(h+1)-1, columns*(w+1)-1) image, tiles separated by one pad pixel."""
    n, h, w = tiles.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), pad, dtype=np.float64)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tile
    return out


def first_layer(W: np.ndarray, image_shape, path: Path) -> Path:
    """Each first-layer neuron's weights as an image, on one diverging colour scale centred on zero."""
    tiles = np.asarray(W, dtype=np.float64).reshape(len(W), *image_shape)
    columns = int(np.ceil(np.sqrt(len(tiles) * 2)))
    limit = float(np.abs(tiles).max()) or 1.0
    fig, ax = plt.subplots(figsize=GRID)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    image = ax.imshow(mosaic(tiles, columns), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"First-layer weights: {len(tiles)} {'neurons' if tiles.shape[1] > 8 else 'filters'}, "
                 "one scale (red > 0 > blue)")
    fig.colorbar(image, ax=ax, fraction=0.03, label="weight")
    fig.tight_layout()
    return _save(fig, path)


def _gallery(images, titles, colors, columns, path, title) -> Path:
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=GRID)
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, image, text, color in zip(np.ravel(axes), images, titles, colors):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(text, fontsize=7, color=color)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def gallery(images, probabilities, labels, classes, path: Path, count: int = 24) -> Path:
    """The first ``count`` test images with the predicted class and its probability (red: wrong)."""
    predicted = probabilities[:count].argmax(axis=1)
    titles = [f"{classes[p]} ({100 * probabilities[i, p]:.1f}%)" for i, p in enumerate(predicted)]
    colors = ["tab:green" if p == labels[i] else "tab:red" for i, p in enumerate(predicted)]
    return _gallery(images[:count], titles, colors, 8, path, "Test predictions with their confidence")


def mistakes(images, probabilities, labels, classes, path: Path, count: int = 18) -> Path:
    """The most confidently wrong test images: true and predicted class, and the top three probabilities."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    titles = []
    for i in order:
        top = np.argsort(-probabilities[i])[:3]
        titles.append(f"true {classes[labels[i]]}, said {classes[predicted[i]]}\n"
                      + " ".join(f"{classes[j]}:{100 * probabilities[i, j]:.0f}%" for j in top))
    title = f"Most confidently wrong ({len(wrong)} of {len(labels):,} test images are wrong)"
    return _gallery(images[order], titles, ["tab:red"] * len(order), 6, path, title)


def layer_health(stats: dict, steps_per_epoch: int | None, path: Path) -> Path:
    """Weight and gradient norms, the update/weight ratio per step, and dead ReLU units per epoch."""
    fig, axes = plt.subplots(2, 2, figsize=GRID)
    t = np.asarray(stats["steps"], dtype=float) / (steps_per_epoch or 1)
    xlabel = "epoch" if steps_per_epoch else "step"
    panels = (("weight_norm", "||W||", "linear"), ("grad_norm", "||dL/dW||", "log"),
              ("update_ratio", "||update|| / ||W||", "log"))
    for ax, (key, label, scale) in zip(np.ravel(axes), panels):
        for name, values in stats["weights"].items():
            ax.plot(t, values[key], label=name.removesuffix(".W"))
        ax.set(xlabel=xlabel, ylabel=label, yscale=scale)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1, 0].axhline(1e-3, color="gray", ls="--", lw=0.8)
    ax = axes[1, 1]
    dead = stats.get("dead", {})
    for name, values in dead.items():
        if name != "epochs":
            ax.plot(dead["epochs"], [100 * v for v in values], "o-", ms=3, label=name)
    ax.set(xlabel="epoch", ylabel="% units never firing", title="Dead ReLU units (validation batch)")
    ax.grid(alpha=0.3)
    if len(dead) > 1:
        ax.legend(fontsize=7)
    fig.suptitle("Layer health during training")
    fig.tight_layout()
    return _save(fig, path)
