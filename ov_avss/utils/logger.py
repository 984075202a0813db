"""Logging setup: console on the main process, ``OUTPUT_DIR/log.txt`` (``log.txt.rankN`` on the
other ranks), and a once-only helper for fallbacks that must be reported exactly once."""
from __future__ import annotations

import functools
import logging
import os
import sys

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"


@functools.lru_cache()  # Repeated calls (e.g. several trainers in one process) add no handlers.
def setup_logger(output_dir: str | None = None, distributed_rank: int = 0, name: str = "ov_avss") -> logging.Logger:
    """Configure logger ``name`` and return it.

    Args:
        output_dir: folder for ``log.txt``; ``None`` logs to the console only.
        distributed_rank: rank of this process; only rank 0 logs to the console, every rank
            writes its own file.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT, datefmt=_DATE_FORMAT)
    if distributed_rank == 0:
        console = logging.StreamHandler(stream=sys.stdout)
        console.setLevel(logging.INFO)
        console.setFormatter(formatter)
        logger.addHandler(console)
    if output_dir is not None:
        filename = os.path.join(output_dir, "log.txt")
        if distributed_rank > 0:
            filename = f"{filename}.rank{distributed_rank}"
        os.makedirs(output_dir, exist_ok=True)
        file_handler = logging.FileHandler(filename, mode="a", encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    return logger


_logged_once: set[tuple[str, str]] = set()


def log_once(logger: logging.Logger, level: int, message: str) -> None:
    """Log ``message`` the first time this logger sees it; later calls are silent."""
    key = (logger.name, message)
    if key in _logged_once:
        return
    _logged_once.add(key)
    logger.log(level, message)
