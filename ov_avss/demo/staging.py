"""Demo outputs written into a hidden folder and moved into place only when the run completed,
so a failed or interrupted run leaves the previous outputs (or none) intact."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from typing import Iterator, Sequence

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def staging_folder(output_dir: str) -> Iterator[str]:
    """A fresh hidden folder ``output_dir/.demo-*``, removed on exit whatever happened; an
    ``output_dir`` created here is removed too when it is left empty (the run failed)."""
    created = not os.path.isdir(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(dir=output_dir, prefix=".demo-")
    try:
        yield staging
    finally:
        try:
            shutil.rmtree(staging)
            if created and not os.listdir(output_dir):
                os.rmdir(output_dir)
        except OSError as error:  # must not hide the run's own error, if any
            logger.warning("Could not remove the staging folder %s: %s", staging, error)


def move_into_place(staging: str, output_dir: str, folder_name: str, file_names: Sequence[str]) -> None:
    """Replace the outputs of an earlier run with the staged ones: the folder ``folder_name`` as
    a whole (no stale file of a longer earlier run survives), then ``file_names`` in order (put
    the one that says the run is complete last)."""
    old_folder = os.path.join(output_dir, folder_name)
    if os.path.lexists(old_folder):
        # Renamed first so that the new folder can take its name in one step.
        os.replace(old_folder, os.path.join(staging, "previous-" + folder_name))
    os.replace(os.path.join(staging, folder_name), old_folder)
    for name in file_names:
        os.replace(os.path.join(staging, name), os.path.join(output_dir, name))
