"""Plots shared by the reports and the dashboard, written as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.taxonomy import class_words


def confusion_plot(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str, path: str | Path) -> Path:
    """A confusion matrix (rows: truth, columns: prediction) as a PNG at ``path``; counts are
    written in the non-empty cells. The figure is cut to its contents, so long tick labels show
    whole."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only, from any thread
    import matplotlib.pyplot as plt

    path = Path(path)
    counts = np.asarray(matrix, dtype=int).reshape(len(labels), len(labels))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(counts, cmap="Blues")
    words = [class_words(label) for label in labels]
    ax.set_xticks(range(len(labels)), words, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), words, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                # White on the dark cells, where black would vanish into the colour.
                colour = "white" if counts[i, j] > counts.max() / 2 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
