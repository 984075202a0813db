"""The 70 AVSBench-semantic categories and the AVSBench-OV base/novel split.

Single source of truth: ``avsbench_ov_split.json`` beside this module (the published split).
Label index k (1..70) in masks and confusion matrices is ``CATEGORIES[k - 1]``; 0 is background.
"""
from __future__ import annotations

import json
from pathlib import Path

SPLIT_FILE = Path(__file__).with_name("avsbench_ov_split.json")
BACKGROUND = "background"


def load_split(path: str | Path = SPLIT_FILE) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Read a split file: ``(categories, base, novel)``, each a tuple of names.

    Raises:
        ValueError: the file lacks a key, or base/novel do not partition the categories.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"Cannot read split file {path}: {e}") from e
    for key in ("categories", "base", "novel"):
        if key not in data or not isinstance(data[key], list):
            raise ValueError(f"Split file {path} needs a list under '{key}'")
    categories, base, novel = (tuple(data[k]) for k in ("categories", "base", "novel"))
    unknown = sorted((set(base) | set(novel)) - set(categories))
    overlap = sorted(set(base) & set(novel))
    missing = sorted(set(categories) - set(base) - set(novel))
    if unknown or overlap or missing:
        raise ValueError(
            f"Split file {path}: base and novel must partition the categories "
            f"(unknown: {unknown}, in both: {overlap}, in neither: {missing})"
        )
    return categories, base, novel


CATEGORIES, BASE_CATEGORIES, NOVEL_CATEGORIES = load_split()
# Label index k (0..70) -> name; the palette index of ``LABEL_NAMES[k]`` is k.
LABEL_NAMES: tuple[str, ...] = (BACKGROUND, *CATEGORIES)
# Name -> label index (1..70); background is 0.
CATEGORY_TO_INDEX: dict[str, int] = {name: i + 1 for i, name in enumerate(CATEGORIES)}
