"""The evaluator interface (detectron2's ``DatasetEvaluator`` protocol) and the loop that runs
a model over a test loader and feeds an evaluator."""
from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Sized
from typing import Any, Iterable, Iterator

import torch

from ov_avss.utils import comm

logger = logging.getLogger(__name__)

# Seconds between progress lines during inference.
_PROGRESS_PERIOD_S = 5.0
# beta^2 of the F-measure in every protocol (AVSBench and OV-AVSS releases alike).
F_BETA_SQUARED = 0.3


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


class DatasetEvaluators(DatasetEvaluator):
    """Runs several evaluators on the same outputs; their metric dicts are merged."""

    def __init__(self, evaluators: list[DatasetEvaluator]) -> None:
        self._evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self._evaluators:
            evaluator.reset()

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for evaluator in self._evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> dict[str, Any] | None:
        merged: dict[str, Any] = {}
        for evaluator in self._evaluators:
            metrics = evaluator.evaluate()
            if metrics is None:  # not the main process
                continue
            clashes = set(metrics) & set(merged)
            if clashes:
                raise KeyError(
                    f"{type(evaluator).__name__} returns metric groups already returned by "
                    f"another evaluator: {sorted(clashes)}"
                )
            merged.update(metrics)
        return merged if comm.is_main_process() else None


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def inference_on_dataset(
    model: torch.nn.Module, data_loader: Iterable[list[dict[str, Any]]], evaluator: DatasetEvaluator
) -> dict[str, Any]:
    """Run ``model`` in eval mode over ``data_loader`` (this rank's shard) and evaluate.

    Every rank must call this: the evaluator gathers the shards in ``evaluate()``.
    Returns the evaluator's metrics on the main process and ``{}`` on the other ranks.
    """
    total = len(data_loader) if isinstance(data_loader, Sized) else None
    logger.info("Start inference on %s batches", total if total is not None else "an unknown number of")
    evaluator.reset()
    start = time.perf_counter()
    last_report = start
    num_batches = 0
    with _eval_mode(model), torch.no_grad():
        for inputs in data_loader:
            outputs = model(inputs)
            evaluator.process(inputs, outputs)
            num_batches += 1
            now = time.perf_counter()
            if now - last_report > _PROGRESS_PERIOD_S:
                seconds_per_batch = (now - start) / num_batches
                eta = (
                    f", ETA {datetime.timedelta(seconds=int(seconds_per_batch * (total - num_batches)))}"
                    if total is not None
                    else ""
                )
                logger.info(
                    "Inference done %d/%s. %.4f s / batch%s",
                    num_batches,
                    total if total is not None else "?",
                    seconds_per_batch,
                    eta,
                )
                last_report = now
    elapsed = time.perf_counter() - start
    logger.info(
        "Total inference time: %s (%.4f s / batch on this rank, %d batches)",
        datetime.timedelta(seconds=int(elapsed)),
        elapsed / max(num_batches, 1),
        num_batches,
    )
    results = evaluator.evaluate()
    return {} if results is None else results
