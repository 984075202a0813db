"""The evaluator interface (detectron2's ``DatasetEvaluator`` protocol)."""
from __future__ import annotations

from typing import Any


class DatasetEvaluator:
    """Accumulates model outputs over a dataset and turns them into metrics.

    The evaluation loop calls ``reset()`` once, ``process(inputs, outputs)`` for every batch (on
    every rank, each rank seeing its shard), then ``evaluate()`` on every rank; ``evaluate``
    reduces across ranks and returns the metrics on the main process (``None`` elsewhere).
    """

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any] | None:
        raise NotImplementedError
