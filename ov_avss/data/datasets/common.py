"""Helpers shared by the dataset readers: csv indexing, frame times and cheap existence checks."""
from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from typing import Iterable, Sequence

from ...utils.file_io import read_utf8_text

_MAX_LISTED = 5


def read_csv_rows(path: str, required_columns: Sequence[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Read a metadata csv once: ``(columns, rows)`` with each row a ``{column: value}`` dict.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file has no header or lacks one of ``required_columns``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Metadata file not found: {path}")
    with io.StringIO(read_utf8_text(path, "Metadata file"), newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in required_columns if c not in columns]
        if missing:
            raise ValueError(
                f"Metadata file {path} lacks the column(s) {missing}; expected at least "
                f"{list(required_columns)}, found {columns}"
            )
        reader.fieldnames = columns
        rows = [{key: (value or "").strip() for key, value in row.items() if key is not None} for row in reader]
    return columns, rows


def pick_column(path: str, columns: Sequence[str], candidates: Sequence[str]) -> str:
    """The first of ``candidates`` among ``columns`` (releases name the video-id column differently).

    Raises:
        ValueError: none of the candidates is a column of ``path``.
    """
    for name in candidates:
        if name in columns:
            return name
    raise ValueError(f"Metadata file {path} needs one of the columns {list(candidates)}; found {list(columns)}")


def check_entries_exist(paths: Iterable[str], what: str) -> None:
    """Check that every path exists with one ``os.listdir`` per parent folder.

    Raises:
        FileNotFoundError: naming the first missing entries (and how many are missing).
    """
    by_parent: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        parent, name = os.path.split(path)
        by_parent[parent].add(name)
    missing: list[str] = []
    for parent, names in sorted(by_parent.items()):
        try:
            present = set(os.listdir(parent))
        except FileNotFoundError:
            present = set()
        missing.extend(os.path.join(parent, n) for n in sorted(names - present))
    if missing:
        shown = ", ".join(missing[:_MAX_LISTED])
        raise FileNotFoundError(f"{len(missing)} {what} missing, e.g. {shown}")


def frame_times(num_frames: int, frames_per_second: float) -> list[float]:
    """The times in seconds of a record's frames ``0..num_frames-1`` sampled at
    ``frames_per_second`` from the start of its audio: record key ``frame_times``."""
    return [t / frames_per_second for t in range(num_frames)]
