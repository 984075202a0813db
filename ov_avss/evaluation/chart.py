"""Per-class IoU bar chart (base vs novel), rendered with matplotlib's Agg backend."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from ..utils.file_io import atomic_open  # noqa: E402

_BASE_COLOUR, _NOVEL_COLOUR, _OTHER_COLOUR = "#1f77b4", "#d62728", "#7f7f7f"


def save_per_class_chart(
    results: dict[str, Any], base_names: Sequence[str], novel_names: Sequence[str], path: str
) -> str:
    """Save a bar chart of ``results["per_class"][name]["iou"]`` to ``path`` (PNG, atomic).

    Base classes are blue, novel red, others (background, closed-set classes) grey; classes are
    sorted by IoU within each group.
    """
    per_class = results["per_class"]
    base, novel = set(base_names), set(novel_names)

    def group(name: str) -> int:
        return 0 if name in base else 1 if name in novel else 2

    names = sorted(per_class, key=lambda n: (group(n), -per_class[n]["iou"], n))
    values = [per_class[n]["iou"] for n in names]
    colours = [(_BASE_COLOUR, _NOVEL_COLOUR, _OTHER_COLOUR)[group(n)] for n in names]

    figure, axes = plt.subplots(figsize=(max(6.0, 0.28 * len(names) + 2), 4.5))
    try:
        axes.bar(range(len(names)), values, color=colours)
        axes.set_xticks(range(len(names)))
        axes.set_xticklabels(names, rotation=90, fontsize=7)
        axes.set_ylim(0, 1)
        axes.set_ylabel("IoU")
        title = f"mIoU {results['mIoU']:.3f}"
        if "mIoU_base" in results:
            title += f" | base {results['mIoU_base']:.3f} | novel {results['mIoU_novel']:.3f}"
        axes.set_title(title)
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (_BASE_COLOUR, _NOVEL_COLOUR, _OTHER_COLOUR)]
        axes.legend(handles, ["base", "novel", "other"], loc="upper right", fontsize=8)
        figure.tight_layout()
        with atomic_open(path, "wb") as f:
            figure.savefig(f, format="png", dpi=100)
    finally:
        plt.close(figure)
    return path
