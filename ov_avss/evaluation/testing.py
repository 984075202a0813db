"""Presenting and storing evaluation results: a console table and an atomic ``metrics.json``."""
from __future__ import annotations

import logging
import math
import os
from typing import Any

from ov_avss.utils.file_io import write_json_atomic

logger = logging.getLogger(__name__)


def format_metrics_table(dataset_name: str, results: dict[str, Any]) -> str:
    """One row per metric group (``{"sem_seg": {"mIoU": ..}}``), one column per metric name,
    values with four decimals; a metric a group lacks shows as ``-``, an undefined one (None)
    as ``n/a``. Flat results (metrics without groups, e.g. AVIS) get no group column."""
    groups = {name: metrics for name, metrics in results.items() if isinstance(metrics, dict)}
    scalars = {name: value for name, value in results.items() if not isinstance(value, dict)}
    if scalars:
        groups = {"": scalars, **groups}
    columns: list[str] = []
    for metrics in groups.values():
        columns += [name for name in metrics if name not in columns]

    def cell(metrics: dict[str, Any], name: str) -> str:
        if name not in metrics:
            return "-"
        value = metrics[name]
        if isinstance(value, float):
            return f"{value:.4f}" if math.isfinite(value) else str(value)
        return "n/a" if value is None else str(value)

    rows = [["group", *columns]]
    rows += [[group, *(cell(metrics, name) for name in columns)] for group, metrics in groups.items()]
    if list(groups) == [""]:  # only ungrouped metrics: the group column would stay empty
        rows = [row[1:] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(text.ljust(width) for text, width in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return f"Evaluation results for {dataset_name}:\n" + "\n".join(lines)


def write_metrics_json(results: dict[str, Any], path: str) -> None:
    """Write ``results`` as indented JSON to ``path`` atomically."""
    write_json_atomic(path, results, sort_keys=True)
    logger.info("Wrote metrics to %s", os.path.abspath(path))
