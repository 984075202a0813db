"""One run per ``OUTPUT_DIR``: a second run started on a folder in use refuses to start.

Two runs writing one folder would interleave their logs and metrics and overwrite each other's
checkpoints and ``last_checkpoint``. The main process of a run holds an exclusive ``flock`` on
``OUTPUT_DIR/run.lock`` for as long as it runs; the file names that process. The kernel drops
the lock when the process ends in any way (``kill -9`` included), so a stale file never blocks
a later run.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
from typing import Iterator

from ov_avss.utils import comm

LOCK_FILE = "run.lock"


class OutputDirInUseError(RuntimeError):
    """``OUTPUT_DIR`` is locked by another running process."""


def _acquire(output_dir: str) -> int:
    """Lock ``output_dir/run.lock`` (created if needed); return its descriptor.

    Raises:
        OutputDirInUseError: naming the folder and the process that holds it.
    """
    path = os.path.join(output_dir, LOCK_FILE)
    os.makedirs(output_dir, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", errors="replace").strip() or "an unknown process"
            os.close(fd)
            raise OutputDirInUseError(
                f"OUTPUT_DIR '{output_dir}' is in use by another run ({holder}); wait for it to end or "
                "give this run another OUTPUT_DIR"
            ) from None
        # The run that held it may have removed the file between our open and our lock.
        if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} on {socket.gethostname()}, started {started}\n".encode())
    return fd


@contextlib.contextmanager
def output_dir_lock(output_dir: str) -> Iterator[None]:
    """Hold the lock of ``output_dir`` in the main process for the block; every rank raises
    ``OutputDirInUseError`` when it is taken (the ranks agree, so none waits for the others)."""
    fd: int | None = None
    refusal: str | None = None
    if comm.is_main_process():
        try:
            fd = _acquire(output_dir)
        except OutputDirInUseError as error:
            refusal = str(error)
    refusal = comm.all_gather(refusal)[0]
    if refusal is not None:
        raise OutputDirInUseError(refusal)
    try:
        yield
    finally:
        if fd is not None:
            # Removed before unlocking, so that no later run locks a file that is then deleted.
            os.unlink(os.path.join(output_dir, LOCK_FILE))
            os.close(fd)
