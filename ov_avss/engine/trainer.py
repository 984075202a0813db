"""The iteration-based trainer: DDP, AMP, gradient accumulation and clipping, hooks, exact
resumption, graceful SIGTERM/SIGINT and non-finite loss detection."""
from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
from collections import OrderedDict
from typing import Any, Iterator, Mapping

import torch
from torch.nn.parallel import DistributedDataParallel

from ov_avss.checkpoint import Checkpointer, restore_rng_states
from ov_avss.config import CfgNode
from ov_avss.evaluation.evaluator import DatasetEvaluator, inference_on_dataset
from ov_avss.evaluation.testing import format_metrics_table, write_metrics_json
from ov_avss.solver import build_gradient_clipper, build_lr_scheduler, build_optimizer
from ov_avss.utils import comm
from ov_avss.utils.events import CommonMetricPrinter, EventStorage, EventWriter, JSONWriter, TensorboardWriter

from . import hooks
from .stop_signals import StopSignals

logger = logging.getLogger(__name__)

_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def inference_output_dir(cfg: CfgNode, dataset_name: str) -> str:
    """Where evaluating ``dataset_name`` writes: ``OUTPUT_DIR/inference/<dataset>``, or
    ``OUTPUT_DIR/inference_audio_<mode>/<dataset>`` with a ``TEST.AUDIO_ABLATION`` other than
    ``none``, so that an ablated run never overwrites the normal evaluation."""
    ablation = cfg.TEST.AUDIO_ABLATION
    folder = "inference" if ablation == "none" else f"inference_audio_{ablation}"
    return os.path.join(cfg.OUTPUT_DIR, folder, dataset_name)


class TrainingInterrupted(SystemExit):
    """Training stopped on SIGTERM/SIGINT after saving a checkpoint; exit status 128 + signal."""

    def __init__(self, signum: int, iteration: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.iteration = iteration


class GradientAccumulation:
    """``SOLVER.GRAD_ACCUM_STEPS``, saved in every checkpoint: a resumed run restarts the train
    loader at ``iteration x steps`` loader batches, which is where the saved run stopped only
    when both count the same number of loader batches per optimizer step."""

    def __init__(self, steps: int) -> None:
        if steps < 1:
            raise ValueError(f"SOLVER.GRAD_ACCUM_STEPS must be >= 1, got {steps}")
        self.steps = steps

    def state_dict(self) -> dict[str, int]:
        return {"steps": self.steps}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if state["steps"] != self.steps:
            logger.warning(
                "The checkpoint was written with SOLVER.GRAD_ACCUM_STEPS %d, this run uses %d: the "
                "train loader resumes at iteration x %d batches, so the windows it sees from here differ "
                "from the ones the saved run would have seen.",
                state["steps"], self.steps, self.steps,
            )


class Trainer:
    """detectron2-style trainer; subclass and override the ``build_*`` classmethods to change
    the model, data, optimizer, schedule or evaluation.

    One iteration is one optimizer step over ``SOLVER.GRAD_ACCUM_STEPS`` loader batches of
    ``SOLVER.IMS_PER_BATCH // world_size`` windows each. The model in train mode takes a
    ``list[VideoInput]`` and returns a dict of 0-dim loss tensors, which are summed.

    Gradient accumulation: each micro-batch's loss is divided by ``GRAD_ACCUM_STEPS`` before its
    backward pass, so with per-sample mean losses and no batch-dependent layers N micro-batches
    of B windows give the update of one batch of N x B; DDP all-reduces the gradients only on the
    last micro-batch (``no_sync`` before it); the fp16 gradient scaler scales every micro-batch's
    loss with one scale and is unscaled, stepped and updated once per optimizer step; the LR
    schedule, ``SOLVER.MAX_ITER``, checkpoints, logging and evaluation count optimizer steps.
    """

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg
        if comm.is_main_process():
            os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        model = self.build_model(cfg)
        self.optimizer = self.build_optimizer(cfg, model)
        self.scheduler = self.build_lr_scheduler(cfg, self.optimizer)
        self.device = next(model.parameters()).device
        self.model = self._wrap_ddp(model)
        self.grad_accumulation = GradientAccumulation(int(cfg.SOLVER.GRAD_ACCUM_STEPS))
        self.amp_dtype: torch.dtype | None = None
        self.grad_scaler: torch.amp.GradScaler | None = None
        if cfg.SOLVER.AMP.ENABLED:
            if cfg.SOLVER.AMP.DTYPE not in _AMP_DTYPES:
                raise ValueError(
                    f"SOLVER.AMP.DTYPE must be one of {sorted(_AMP_DTYPES)}, got '{cfg.SOLVER.AMP.DTYPE}'"
                )
            self.amp_dtype = _AMP_DTYPES[cfg.SOLVER.AMP.DTYPE]
            if self.amp_dtype == torch.float16:
                self.grad_scaler = torch.amp.GradScaler(self.device.type)
        self.clip_gradients = build_gradient_clipper(cfg)
        self._trainable_params = [p for group in self.optimizer.param_groups for p in group["params"]]
        checkpointables: dict[str, Any] = {
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "grad_accumulation": self.grad_accumulation,
        }
        if self.grad_scaler is not None:
            checkpointables["grad_scaler"] = self.grad_scaler
        self.checkpointer = Checkpointer(model, cfg.OUTPUT_DIR, **checkpointables)
        self.start_iter = 0
        self.iter = 0
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self.completed = False
        self.storage: EventStorage | None = None
        self.last_eval_results: dict[str, Any] = {}
        self.num_evaluations = 0
        self._rng_states_to_restore: list[dict[str, Any]] | None = None
        # With several processes a late signal must not interrupt the process group's teardown.
        self._stop_signals = StopSignals(self._on_stop_signal, ignore_after_stop=comm.get_world_size() > 1)
        self._weights_at_iter = -1  # the iteration whose optimizer step produced the weights
        self._data_iter: Iterator[list[dict[str, Any]]] | None = None
        self._hooks: list[hooks.HookBase] = []
        self.register_hooks(self.build_hooks())

    # ----------------------------------------------------------------------------------------
    # Builders (override in subclasses)
    # ----------------------------------------------------------------------------------------
    @classmethod
    def build_model(cls, cfg: CfgNode) -> torch.nn.Module:
        """The model of ``cfg``, told the names of its training data (``with_seen_categories``)."""
        from ov_avss.data.catalog import with_seen_categories
        from ov_avss.modeling.meta_arch.build import build_model

        model = build_model(with_seen_categories(cfg))
        num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        num_total = sum(p.numel() for p in model.parameters())
        logger.info("Model %s: %d parameters, %d trainable", type(model).__name__, num_total, num_trainable)
        return model

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg: CfgNode, optimizer: torch.optim.Optimizer):
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode, start_iter: int):
        """Infinite iterable of ``list[VideoInput]``; ``start_iter`` counts loader batches."""
        from ov_avss.data.build import build_train_loader

        return build_train_loader(cfg, start_iter)

    @classmethod
    def check_train_data(cls, cfg: CfgNode) -> None:
        """Check the training data before anything is created in ``OUTPUT_DIR`` (``default_main``
        runs it first); override together with ``build_train_loader`` for other data.

        Raises:
            FileNotFoundError, DatasetCheckError: see ``ov_avss.data.build.check_train_data``.
        """
        from ov_avss.data.build import check_train_data

        check_train_data(cfg)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        from ov_avss.data.build import build_test_loader

        return build_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_dir: str | None = None) -> DatasetEvaluator:
        from ov_avss.evaluation.build import build_evaluator

        if output_dir is None:
            output_dir = inference_output_dir(cfg, dataset_name)
        return build_evaluator(cfg, dataset_name, output_dir)

    def build_writers(self) -> list[EventWriter]:
        """Console line, ``OUTPUT_DIR/metrics.json`` and TensorBoard events in ``OUTPUT_DIR``."""
        return [
            CommonMetricPrinter(self.max_iter, window=self.cfg.LOG_PERIOD),
            JSONWriter(os.path.join(self.cfg.OUTPUT_DIR, "metrics.json")),
            TensorboardWriter(self.cfg.OUTPUT_DIR),
        ]

    def build_hooks(self) -> list[hooks.HookBase]:
        cfg = self.cfg
        hook_list: list[hooks.HookBase] = [
            hooks.IterationTimer(),
            hooks.PeakMemory(),
            hooks.LRScheduler(),
            hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD),
            hooks.EvalHook(cfg.TEST.EVAL_PERIOD, self._evaluate),
        ]
        if cfg.TEST.BEST_CHECKPOINT_METRIC:
            if not cfg.DATASETS.TEST:
                raise ValueError("TEST.BEST_CHECKPOINT_METRIC needs a dataset in DATASETS.TEST to evaluate")
            metric = f"{cfg.DATASETS.TEST[0]}/{cfg.TEST.BEST_CHECKPOINT_METRIC}"
            hook_list.append(hooks.BestCheckpointer(self.checkpointer, metric))
        if comm.is_main_process():
            # Writers come last so that they see this iteration's evaluation results.
            hook_list.append(hooks.PeriodicWriter(self.build_writers(), period=cfg.LOG_PERIOD))
            hook_list.append(hooks.ProgressBar(update_period=cfg.LOG_PERIOD))
        return hook_list

    def register_hooks(self, hook_list: list[hooks.HookBase]) -> None:
        for hook in hook_list:
            hook.trainer = self
        self._hooks.extend(hook_list)

    # ----------------------------------------------------------------------------------------
    # Evaluation
    # ----------------------------------------------------------------------------------------
    @classmethod
    def test(
        cls, cfg: CfgNode, model: torch.nn.Module, evaluators: list[DatasetEvaluator] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Evaluate ``model`` on every ``DATASETS.TEST`` entry with its registered evaluator.

        Each rank runs its shard; the main process prints a table per dataset and writes
        ``metrics.json`` into ``inference_output_dir(cfg, dataset)`` (``OUTPUT_DIR/inference/
        <dataset>``, or ``OUTPUT_DIR/inference_audio_<mode>/<dataset>`` for an audio ablation).
        Returns ``{dataset: metrics}`` (empty metrics on the other ranks).
        """
        if evaluators is not None and len(evaluators) != len(cfg.DATASETS.TEST):
            raise ValueError(
                f"{len(evaluators)} evaluators given for {len(cfg.DATASETS.TEST)} test datasets "
                f"{list(cfg.DATASETS.TEST)}"
            )
        results: dict[str, dict[str, Any]] = OrderedDict()
        for index, dataset_name in enumerate(cfg.DATASETS.TEST):
            data_loader = cls.build_test_loader(cfg, dataset_name)
            evaluator = evaluators[index] if evaluators is not None else cls.build_evaluator(cfg, dataset_name)
            dataset_results = inference_on_dataset(model, data_loader, evaluator)
            results[dataset_name] = dataset_results
            if comm.is_main_process():
                title = dataset_name
                if cfg.TEST.AUDIO_ABLATION != "none":
                    title += f" (TEST.AUDIO_ABLATION {cfg.TEST.AUDIO_ABLATION})"
                logger.info(format_metrics_table(title, dataset_results))
                write_metrics_json(
                    dataset_results, os.path.join(inference_output_dir(cfg, dataset_name), "metrics.json")
                )
        return results

    def _evaluate(self) -> dict[str, Any]:
        model = self.model.module if isinstance(self.model, DistributedDataParallel) else self.model
        self.last_eval_results = self.test(self.cfg, model)
        self.num_evaluations += 1
        return self.last_eval_results

    # ----------------------------------------------------------------------------------------
    # Resumption
    # ----------------------------------------------------------------------------------------
    def resume_or_load(self, resume: bool = True) -> None:
        """With ``resume`` and a ``last_checkpoint`` in ``OUTPUT_DIR``: restore model, optimizer,
        scheduler, grad scaler, iteration and (when training starts) RNG states. Otherwise load
        ``MODEL.WEIGHTS`` into the model only."""
        resuming = resume and self.checkpointer.has_checkpoint()
        checkpoint = self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume)
        if resuming:
            if "iteration" not in checkpoint:
                raise KeyError(
                    f"{self.checkpointer.get_checkpoint_file()} has no 'iteration'; it is not a "
                    "training checkpoint and cannot be resumed from"
                )
            self.start_iter = checkpoint["iteration"] + 1
            self._rng_states_to_restore = checkpoint.get("rng_states")
            logger.info("Resuming at iteration %d", self.start_iter)

    # ----------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Train from ``start_iter`` to ``SOLVER.MAX_ITER``; returns the last evaluation results.

        Raises:
            FloatingPointError: a loss term or the predictions became NaN/inf (nothing new is
                saved).
            Exception: any other error in training, after the weights of the last completed
                iteration were saved (their path is logged).
            TrainingInterrupted: SIGTERM/SIGINT arrived; a checkpoint of the last completed
                iteration was saved first.
        """
        logger.info("Starting training from iteration %d to %d", self.start_iter, self.max_iter)
        self.model.train()
        self._data_iter = iter(self.build_train_loader(self.cfg, self.start_iter * self.grad_accumulation.steps))
        # Restored after the loader exists: creating a DataLoader iterator draws from the global
        # torch generator, which the uninterrupted run did before its checkpoint was taken.
        if self._rng_states_to_restore is not None:
            restore_rng_states(self._rng_states_to_restore)
        self.iter = self.start_iter
        self.storage = EventStorage(self.start_iter)
        self._weights_at_iter = self.start_iter - 1
        with self._stop_signals:
            try:
                for hook in self._hooks:
                    hook.before_train()
                for self.iter in range(self.start_iter, self.max_iter):
                    self.storage.iter = self.iter
                    for hook in self._hooks:
                        hook.before_step()
                    self.run_step()
                    for hook in self._hooks:
                        hook.after_step()
                    if self.iter < self.max_iter - 1 and self._stop_requested():
                        self._save_and_interrupt()
                self.completed = True
            except FloatingPointError:
                raise
            except Exception:
                self._save_after_error()
                raise
            finally:
                for hook in self._hooks:
                    hook.after_train()
        return self.last_eval_results

    def run_step(self) -> None:
        """One optimizer step over ``GRAD_ACCUM_STEPS`` loader batches."""
        data_time = 0.0
        loss_sums: dict[str, float] = {}
        for micro_step in range(self.grad_accumulation.steps):
            data_start = time.perf_counter()
            batch = next(self._data_iter)
            data_time += time.perf_counter() - data_start
            is_last = micro_step == self.grad_accumulation.steps - 1
            # Gradients are all-reduced only on the last micro-batch of the step.
            sync = (
                self.model.no_sync()
                if isinstance(self.model, DistributedDataParallel) and not is_last
                else contextlib.nullcontext()
            )
            with sync:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    try:
                        loss_dict = self.model(batch)
                    except FloatingPointError as error:  # e.g. NaN predictions seen by the criterion
                        raise FloatingPointError(self._non_finite_message(str(error))) from error
                total_loss = self._check_losses(loss_dict, loss_sums)
                scaled_loss = total_loss / self.grad_accumulation.steps
                if self.grad_scaler is not None:
                    scaled_loss = self.grad_scaler.scale(scaled_loss)
                scaled_loss.backward()
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(self.optimizer)
        if self.clip_gradients is not None:
            self.clip_gradients(self._trainable_params)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()
        self._weights_at_iter = self.iter
        self.optimizer.zero_grad(set_to_none=True)
        means = {name: total / self.grad_accumulation.steps for name, total in loss_sums.items()}
        self.storage.put_scalars(total_loss=sum(means.values()), data_time=data_time, **means)

    def _non_finite_message(self, described: str) -> str:
        return (
            f"Loss became non-finite at iteration {self.iter}: {described}. "
            "Training stopped; no checkpoint was written for this iteration."
        )

    def _check_losses(self, loss_dict: Any, loss_sums: dict[str, float]) -> torch.Tensor:
        """Validate the model's losses, average them over ranks for logging, stop on NaN/inf.

        Adds each term's rank-averaged value to ``loss_sums`` and returns the local total.
        """
        if not isinstance(loss_dict, Mapping) or not loss_dict:
            raise TypeError(
                "In training mode the model must return a non-empty dict of loss tensors, got "
                f"{type(loss_dict).__name__}"
            )
        for name, value in loss_dict.items():
            if not isinstance(value, torch.Tensor) or value.ndim != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise TypeError(f"Loss term '{name}' must be a 0-dim tensor, got {shape}")
        names = sorted(loss_dict)
        values = torch.stack([loss_dict[name].detach().float() for name in names])
        world_size = comm.get_world_size()
        if world_size > 1:
            comm.all_reduce_sum(values)
            values /= world_size
        reduced = dict(zip(names, values.tolist()))
        bad_terms = {name: value for name, value in reduced.items() if not math.isfinite(value)}
        if bad_terms:
            described = ", ".join(f"{name} = {value}" for name, value in bad_terms.items())
            scope = " (averaged over ranks)" if world_size > 1 else ""
            raise FloatingPointError(self._non_finite_message(described + scope))
        for name, value in reduced.items():
            loss_sums[name] = loss_sums.get(name, 0.0) + value
        return sum(loss_dict.values())

    # ----------------------------------------------------------------------------------------
    # Graceful stop
    # ----------------------------------------------------------------------------------------
    def _on_stop_signal(self, signum: int, first: bool) -> None:
        name = signal.Signals(signum).name
        if first:
            logger.warning("Received %s: saving a checkpoint after iteration %d, then exiting", name, self.iter)
        else:
            logger.warning("Received %s while already stopping; the checkpoint is saved once", name)

    def _stop_requested(self) -> bool:
        """Whether any rank received a stop signal (all ranks agree, so all stop together)."""
        if comm.get_world_size() == 1:
            return self._stop_signals.requested
        flag = torch.tensor([1.0 if self._stop_signals.requested else 0.0], device=self.device)
        return comm.all_reduce_sum(flag).item() > 0

    def _save_and_interrupt(self) -> None:
        self.checkpointer.save(f"model_{self.iter:07d}", iteration=self.iter)
        # A rank that saw no signal itself stops because another one did: report SIGTERM.
        code = self._stop_signals.exit_code if self._stop_signals.requested else 128 + signal.SIGTERM
        raise TrainingInterrupted(code - 128, self.iter)

    def _save_after_error(self) -> None:
        """Before an exception leaves ``train``: save the weights of the last completed
        iteration (if not already saved) and log where, so that the run can be resumed.

        With several processes the failing rank cannot join a collective save (the others are
        blocked elsewhere), so the main process writes alone, without the other ranks' RNG
        states; any other rank only logs.
        """
        iteration = self._weights_at_iter
        if iteration < self.start_iter:
            logger.error("Training failed at iteration %d before completing one; nothing new to save", self.iter)
            return
        name = f"model_{iteration:07d}"
        path = os.path.join(self.cfg.OUTPUT_DIR, f"{name}.pth")
        if comm.get_world_size() > 1 and not comm.is_main_process():
            logger.error("Training failed at iteration %d on rank %d; the main process saves checkpoints", self.iter, comm.get_rank())
            return
        try:
            if not os.path.isfile(path):
                self.checkpointer.save(name, collective=comm.get_world_size() == 1, iteration=iteration)
        except Exception as save_error:  # the training error is re-raised by the caller
            logger.error("Training failed at iteration %d and saving %s failed too: %s", self.iter, path, save_error)
            return
        logger.error(
            "Training failed at iteration %d; the weights of iteration %d are in %s (resume with --resume)",
            self.iter, iteration, os.path.abspath(path),
        )

    def _wrap_ddp(self, model: torch.nn.Module) -> torch.nn.Module:
        if comm.get_world_size() == 1:
            return model
        device_ids = [comm.get_local_rank()] if self.device.type == "cuda" else None
        return DistributedDataParallel(
            model,
            device_ids=device_ids,
            broadcast_buffers=False,
            find_unused_parameters=self.cfg.DDP_FIND_UNUSED_PARAMETERS,
        )
