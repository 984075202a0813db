"""Training metrics: an ``EventStorage`` of per-iteration scalars and the writers that drain it
(``metrics.json`` lines, TensorBoard, the console line with ETA)."""
from __future__ import annotations

import datetime
import json
import logging
import os
import statistics
from collections import defaultdict, deque
from typing import Any

logger = logging.getLogger(__name__)


class EventStorage:
    """Scalars recorded during training, each with the iteration it belongs to.

    Only the last ``max_history`` points of each scalar are kept (a long run would otherwise
    hold millions); writers must drain the storage more often than that.
    """

    def __init__(self, start_iter: int = 0, max_history: int = 1000) -> None:
        self.iter = start_iter
        self._history: dict[str, deque[tuple[float, int]]] = defaultdict(
            lambda: deque(maxlen=max_history)
        )

    def put_scalar(self, name: str, value: float) -> None:
        self._history[name].append((float(value), self.iter))

    def put_scalars(self, **values: float) -> None:
        for name, value in values.items():
            self.put_scalar(name, value)

    def history(self, name: str) -> list[tuple[float, int]]:
        """``[(value, iteration), ...]`` of ``name`` in recording order."""
        if name not in self._history:
            raise KeyError(f"No scalar named '{name}' has been recorded")
        return list(self._history[name])

    def names(self) -> list[str]:
        return list(self._history)

    def latest(self) -> dict[str, tuple[float, int]]:
        """The most recent ``(value, iteration)`` of every scalar."""
        return {name: entries[-1] for name, entries in self._history.items()}

    def median(self, name: str, window: int) -> float:
        return statistics.median(value for value, _ in self.history(name)[-window:])


class EventWriter:
    """Writes what the storage recorded since its previous ``write``."""

    def write(self, storage: EventStorage) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release files; the default writer holds none."""


class JSONWriter(EventWriter):
    """Appends one JSON object per ``write`` to ``metrics.json``: the latest value of every scalar
    recorded since the previous write, with ``"iteration"``."""

    def __init__(self, json_file: str) -> None:
        self._file = open(json_file, "a", encoding="utf-8")
        self._last_written_iter = -1

    def write(self, storage: EventStorage) -> None:
        fresh = {
            name: value
            for name, (value, iteration) in storage.latest().items()
            if iteration > self._last_written_iter
        }
        if not fresh:
            return
        self._file.write(json.dumps({"iteration": storage.iter, **fresh}, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_written_iter = storage.iter

    def close(self) -> None:
        self._file.close()


class TensorboardWriter(EventWriter):
    """Every scalar point recorded since the previous write, as TensorBoard events."""

    def __init__(self, log_dir: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir)
        self._last_written_iter = -1

    def write(self, storage: EventStorage) -> None:
        for name in storage.names():
            for value, iteration in storage.history(name):
                if iteration > self._last_written_iter:
                    self._writer.add_scalar(name, value, iteration)
        self._writer.flush()
        self._last_written_iter = storage.iter

    def close(self) -> None:
        self._writer.close()


class CommonMetricPrinter(EventWriter):
    """Logs ``eta, iter, losses (median over the window), time, data_time, lr, max_mem`` as one
    line (``max_mem``: the latest ``max_mem_mib``, in MiB, as detectron2 prints it)."""

    def __init__(self, max_iter: int, window: int = 20) -> None:
        self._max_iter = max_iter
        self._window = window
        self._last_printed_iter = -1

    def write(self, storage: EventStorage) -> None:
        iteration = storage.iter
        if iteration == self._last_printed_iter:  # e.g. the extra write after a final evaluation
            return
        self._last_printed_iter = iteration
        names = set(storage.names())
        parts = []
        if "time" in names:
            seconds_per_iter = storage.median("time", self._window)
            eta = datetime.timedelta(seconds=int(seconds_per_iter * (self._max_iter - iteration - 1)))
            parts.append(f"eta: {eta}")
        parts.append(f"iter: {iteration}")
        parts += [
            f"{name}: {storage.median(name, self._window):.4g}"
            for name in sorted(names)
            if name == "total_loss" or name.startswith("loss")
        ]
        if "time" in names:
            parts.append(f"time: {storage.median('time', self._window):.4f}")
        if "data_time" in names:
            parts.append(f"data_time: {storage.median('data_time', self._window):.4f}")
        if "lr" in names:
            parts.append(f"lr: {storage.history('lr')[-1][0]:.5g}")
        if "max_mem_mib" in names:
            parts.append(f"max_mem: {storage.history('max_mem_mib')[-1][0]:.0f}M")
        logger.info("  ".join(parts))


def flatten_metrics(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"ds": {"mIoU": 1.0}}`` -> ``{"ds/mIoU": 1.0}``; non-numeric leaves are dropped."""
    flat: dict[str, float] = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat
