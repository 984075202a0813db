"""Atomic file writes: every output file appears complete or not at all.

Metrics, predictions, overlays, charts, configs and checkpoints are all written through
``atomic_open``, so a reader (or a resumed run after a crash) never sees a half-written file.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from typing import IO, Any, Iterator


# A full disk or quota, or a file too large: reported naming the file being written.
_DEVICE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    If the block raises (or the process dies), ``path`` keeps its previous content and the
    temporary file is removed (or, after a crash, left as a hidden ``.<name>.*.tmp`` file). A
    full device (ENOSPC, EDQUOT, EFBIG) is re-raised as an ``OSError`` of the same errno that
    names ``path``. Text mode writes UTF-8. The yielded file's ``name`` is the temporary file's
    path, so a caller can check what it wrote (and raise to discard it) before the rename.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files; mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(temp_path, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file private to the user; outputs are ordinary files.
        os.chmod(temp_path, 0o644)
        os.replace(temp_path, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_path)
        if isinstance(error, OSError) and error.errno in _DEVICE_FULL:
            raise OSError(
                error.errno, f"{os.strerror(error.errno)} while writing {path}; its previous content is unchanged"
            ) from error
        raise


def write_json_atomic(
    path: str | os.PathLike, data: Any, *, indent: int = 2, sort_keys: bool = False, allow_nan: bool = True
) -> None:
    """Write ``data`` as indented JSON (with a final newline) to ``path`` atomically.

    The text is serialised before the file is opened, so data that cannot be written as JSON
    (or non-finite numbers with ``allow_nan=False``) raises without touching ``path``.
    """
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan)
    with atomic_open(path, "w") as f:
        f.write(text + "\n")


def check_writable_folder(folder: str, what: str) -> None:
    """Check that files can be created in ``folder`` (which may not exist yet) without leaving
    anything behind: folders made for the test are removed again.

    Raises:
        OSError: naming ``what`` and ``folder`` (an existing file, no permission, ...).
    """
    created: list[str] = []
    parent = os.path.abspath(folder)
    while not os.path.exists(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(f"{what} '{folder}' is an existing file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(f"{what} '{folder}' cannot be written: {error.strerror or error}") from error
    finally:
        for path in created:  # deepest first
            if os.path.isdir(path):
                os.rmdir(path)


def read_utf8_text(path: str | os.PathLike, what: str) -> str:
    """The text of ``path``, decoded as UTF-8.

    Raises:
        ValueError: the file is not UTF-8 text; names ``what``, the file and the first bad byte.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{what} {os.fspath(path)} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} "
            f"({error.reason}); save it as UTF-8"
        ) from None
