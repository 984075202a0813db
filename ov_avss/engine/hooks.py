"""Training hooks: called by the ``Trainer`` around training and around every iteration."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Callable


from ov_avss.checkpoint import Checkpointer, preserved_rng_states
from ov_avss.utils import comm
from ov_avss.utils.events import EventWriter, flatten_metrics
from ov_avss.utils.file_io import write_json_atomic
from ov_avss.utils.memory import peak_memory_mib

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger(__name__)


class HookBase:
    """Extension point of the training loop; override the stages a hook needs.

    ``trainer`` is set by ``Trainer.register_hooks``. ``after_train`` also runs when training
    stops with an error or an interrupt; ``trainer.completed`` tells the cases apart.
    """

    trainer: "Trainer"

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass


class IterationTimer(HookBase):
    """Records the wall time of each iteration as ``time``."""

    def __init__(self) -> None:
        self._step_start = 0.0

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        self.trainer.storage.put_scalar("time", time.perf_counter() - self._step_start)


class PeakMemory(HookBase):
    """Records the process's peak memory so far as ``max_mem_mib`` after every iteration
    (``ov_avss.utils.memory.peak_memory_mib``: CUDA ``max_memory_allocated`` on a GPU, the peak
    RSS on CPU); the console line prints it as detectron2's ``max_mem``."""

    def after_step(self) -> None:
        self.trainer.storage.put_scalar("max_mem_mib", peak_memory_mib(self.trainer.device))


class LRScheduler(HookBase):
    """Steps the LR scheduler after every iteration and records the LR of the largest group."""

    def after_step(self) -> None:
        groups = self.trainer.optimizer.param_groups
        largest = max(groups, key=lambda group: len(group["params"]))
        self.trainer.storage.put_scalar("lr", largest["lr"])
        self.trainer.scheduler.step()


class PeriodicCheckpointer(HookBase):
    """Saves ``model_NNNNNNN`` every ``period`` iterations and ``model_final`` at the end.

    When the last iteration is also a periodic one, ``model_final.pth`` is a hard link to its
    ``model_NNNNNNN.pth`` (one file on disk, not a second copy). Runs on every rank
    (``Checkpointer.save`` gathers RNG states); the main process writes.
    """

    def __init__(self, checkpointer: Checkpointer, period: int) -> None:
        self._checkpointer = checkpointer
        self._period = period

    def after_step(self) -> None:
        iteration = self.trainer.iter
        periodic_name = f"model_{iteration:07d}"
        periodic = (iteration + 1) % self._period == 0
        if periodic:
            self._checkpointer.save(periodic_name, iteration=iteration)
        if iteration >= self.trainer.max_iter - 1:
            if periodic:
                self._checkpointer.save_alias(periodic_name, "model_final")
            else:
                self._checkpointer.save("model_final", iteration=iteration)


class EvalHook(HookBase):
    """Runs ``eval_function`` every ``period`` iterations (0: never) and after the last one.

    The evaluation runs with the RNG states preserved, so that training after it draws the same
    random numbers as a run resumed from a checkpoint of that iteration. Numeric results are
    recorded in the event storage as ``<dataset>/<group>/<metric>``.
    """

    def __init__(self, period: int, eval_function: Callable[[], dict[str, Any]]) -> None:
        self._period = period
        self._eval_function = eval_function

    def _do_eval(self) -> None:
        with preserved_rng_states():
            results = self._eval_function()
        if comm.is_main_process():
            self.trainer.storage.put_scalars(**flatten_metrics(results))
        comm.synchronize()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if self._period > 0 and next_iter % self._period == 0 and next_iter != self.trainer.max_iter:
            self._do_eval()

    def after_train(self) -> None:
        if self.trainer.completed:
            self._do_eval()


class BestCheckpointer(HookBase):
    """After each evaluation during training, saves ``model_best`` when ``metric`` (a key of the
    flattened results, ``<dataset>/<group>/<metric>``; higher is better) beats every earlier
    evaluation, as the AVSBench release keeps its best validation mIoU. The best value and its
    iteration are kept in ``model_best.json`` (read back when training resumes).

    Register it after the ``EvalHook``; it must run on every rank (saving gathers RNG states).
    """

    def __init__(self, checkpointer: Checkpointer, metric: str) -> None:
        self._checkpointer = checkpointer
        self._metric = metric
        self._best = -math.inf
        self._seen_evaluations = 0
        self._record = os.path.join(checkpointer.save_dir, "model_best.json") if checkpointer.save_dir else ""

    def before_train(self) -> None:
        self._seen_evaluations = self.trainer.num_evaluations
        if self._record and os.path.isfile(self._record):
            with open(self._record, encoding="utf-8") as f:
                self._best = float(json.load(f)["value"])

    def _check(self) -> None:
        if self.trainer.num_evaluations == self._seen_evaluations:
            return
        self._seen_evaluations = self.trainer.num_evaluations
        value = None
        if comm.is_main_process():
            flat = flatten_metrics(self.trainer.last_eval_results)
            if self._metric not in flat:
                raise KeyError(f"TEST.BEST_CHECKPOINT_METRIC: the evaluation has no '{self._metric}'; it has {sorted(flat)}")
            value = flat[self._metric]
        value = comm.all_gather(value)[0]
        if not value > self._best:
            return
        self._best = value
        iteration = self.trainer.iter
        self._checkpointer.save("model_best", iteration=iteration, best_metric={self._metric: value})
        if self._record and comm.is_main_process():
            write_json_atomic(self._record, {"metric": self._metric, "value": value, "iteration": iteration})
        logger.info("New best %s = %.6f at iteration %d: saved model_best.pth", self._metric, value, iteration)

    def after_step(self) -> None:
        self._check()

    def after_train(self) -> None:
        self._check()


class PeriodicWriter(HookBase):
    """Drains the event storage into ``writers`` every ``period`` iterations and at the end."""

    def __init__(self, writers: list[EventWriter], period: int) -> None:
        self._writers = writers
        self._period = period

    def _write(self) -> None:
        for writer in self._writers:
            writer.write(self.trainer.storage)

    def after_step(self) -> None:
        iteration = self.trainer.iter
        if (iteration + 1) % self._period == 0 or iteration == self.trainer.max_iter - 1:
            self._write()

    def after_train(self) -> None:
        # Final evaluation results (and the last iterations of an interrupted run) go out here.
        self._write()
        for writer in self._writers:
            writer.close()


class ProgressBar(HookBase):
    """A tqdm bar with ETA on the main process; off when stderr is not a terminal."""

    def __init__(self, update_period: int) -> None:
        self._update_period = update_period
        self._bar = None

    def before_train(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=self.trainer.max_iter, initial=self.trainer.start_iter, desc="train", unit="it", disable=None
        )

    def after_step(self) -> None:
        self._bar.update(1)
        if (self.trainer.iter + 1) % self._update_period == 0:
            total_loss = self.trainer.storage.history("total_loss")[-1][0]
            self._bar.set_postfix(total_loss=f"{total_loss:.4g}", refresh=False)

    def after_train(self) -> None:
        self._bar.close()
