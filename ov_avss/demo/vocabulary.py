"""Test-time vocabularies: comma-separated names or a file with one name per line."""
from __future__ import annotations

import os
from typing import Iterable

from .errors import DemoInputError

# Palette PNGs hold one byte per pixel and index 0 is background.
MAX_VOCABULARY_SIZE = 255


def parse_vocabulary(names: Iterable[str], source: str) -> list[str]:
    """Strip and validate category names.

    Args:
        names: raw names, possibly with surrounding whitespace; blank entries are ignored.
        source: where the names came from, for error messages (``--vocabulary``, a file path).

    Raises:
        DemoInputError: no name is left, more than 255 names, or a name occurs twice.
    """
    vocabulary = [name.strip() for name in names if name.strip()]
    if not vocabulary:
        raise DemoInputError(f"The vocabulary from {source} is empty; give at least one category name")
    if len(vocabulary) > MAX_VOCABULARY_SIZE:
        raise DemoInputError(
            f"The vocabulary from {source} has {len(vocabulary)} names; palette PNGs allow at most "
            f"{MAX_VOCABULARY_SIZE}"
        )
    seen: set[str] = set()
    duplicates = sorted({name for name in vocabulary if name in seen or seen.add(name)})
    if duplicates:
        raise DemoInputError(
            f"The vocabulary from {source} names {duplicates} more than once; each category "
            "name must be unique (the palette index of a name is its position)"
        )
    return vocabulary


def read_vocabulary_file(path: str) -> list[str]:
    """One category name per line; blank lines and lines starting with ``#`` are ignored."""
    # Not only regular files: a pipe or /dev/stdin is read as well.
    if not os.path.exists(path) or os.path.isdir(path):
        raise DemoInputError(f"Vocabulary file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DemoInputError(f"Cannot read vocabulary file {path}: {e}") from e
    return parse_vocabulary((line for line in lines if not line.lstrip().startswith("#")), path)
