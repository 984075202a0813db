"""The trainer in one process on CPU: exact resume after SIGTERM, NaN handling, bf16 AMP,
gradient accumulation and --eval-only, all on the toy task of ``toy_task.py``."""
from __future__ import annotations

import json
import logging
import os
import signal

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.engine import HookBase, TrainingInterrupted, default_argument_parser, default_main, seed_all_rngs

from toy_task import NUM_TEST_CLIPS, TEST_DATASET, ToyTrainer, ToyTrainLoader, toy_window, toy_opts


def make_trainer(output_dir, overrides=None, trainer_cls=ToyTrainer, resume=False, extra_hooks=()):
    cfg = get_cfg()
    cfg.merge_from_list(toy_opts(str(output_dir), overrides))
    cfg.freeze()
    seed_all_rngs(cfg.SEED)
    trainer = trainer_cls(cfg)
    trainer.register_hooks(list(extra_hooks))
    trainer.resume_or_load(resume=resume)
    return trainer


def logged_losses(output_dir) -> dict[int, float]:
    with open(os.path.join(output_dir, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    return {r["iteration"]: r["total_loss"] for r in records if "total_loss" in r}


class SignalAt(HookBase):
    def __init__(self, iteration: int, signals=(signal.SIGTERM,)) -> None:
        self.iteration = iteration
        self.signals = signals

    def after_step(self) -> None:
        if self.trainer.iter == self.iteration:
            for signum in self.signals:
                os.kill(os.getpid(), signum)


@pytest.mark.parametrize("accum_steps", [1, 2])
def test_sigterm_saves_and_resume_reproduces_losses(tmp_path, accum_steps):
    # Dropout draws from the global torch generator, so equal losses need restored RNG states.
    # With accumulation the checkpoint falls after a whole optimizer step and the loader resumes
    # at iteration x GRAD_ACCUM_STEPS batches.
    overrides = {"MODEL.MASK_FORMER.DROPOUT": 0.3, "DATASETS.TEST": "()", "SOLVER.GRAD_ACCUM_STEPS": accum_steps}
    make_trainer(tmp_path / "full", overrides).train()
    expected = logged_losses(tmp_path / "full")
    assert sorted(expected) == list(range(6))

    interrupted_dir = tmp_path / "interrupted"
    trainer = make_trainer(interrupted_dir, overrides, extra_hooks=[SignalAt(2)])
    with pytest.raises(TrainingInterrupted) as info:
        trainer.train()
    assert info.value.code == 128 + signal.SIGTERM and info.value.iteration == 2
    assert (interrupted_dir / "last_checkpoint").read_text() == "model_0000002.pth"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored

    resumed = make_trainer(interrupted_dir, overrides, resume=True)
    assert resumed.start_iter == 3
    resumed.train()
    actual = logged_losses(interrupted_dir)
    assert sorted(actual) == list(range(6))
    for iteration in range(6):
        assert actual[iteration] == pytest.approx(expected[iteration], rel=1e-6), iteration
    full_weights = torch.load(tmp_path / "full" / "model_final.pth", weights_only=True)["model"]
    resumed_weights = torch.load(interrupted_dir / "model_final.pth", weights_only=True)["model"]
    for name, value in full_weights.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=1e-6, atol=1e-7)


def test_sigterm_then_sigint_saves_once_and_exits_143(tmp_path, caplog):
    # What a worker of a pre-empted --num-gpus run sees: the scheduler's SIGTERM, then SIGINT
    # (and SIGTERM again) from its parent.
    trainer = make_trainer(
        tmp_path,
        {"DATASETS.TEST": "()", "SOLVER.CHECKPOINT_PERIOD": 100},
        extra_hooks=[SignalAt(2, (signal.SIGTERM, signal.SIGINT, signal.SIGTERM))],
    )
    with caplog.at_level(logging.INFO, logger="fvcore.common.checkpoint"), pytest.raises(TrainingInterrupted) as info:
        trainer.train()
    assert info.value.code == 143 and info.value.iteration == 2
    assert sorted(p.name for p in tmp_path.glob("model_*.pth")) == ["model_0000002.pth"]
    assert caplog.text.count("Saving checkpoint to") == 1


class FailingLoader(ToyTrainLoader):
    def __iter__(self):
        for index, batch in enumerate(super().__iter__()):
            if index == 3:
                raise ValueError("frame 7 of clip0 is unreadable")
            yield batch


class FailingTrainer(ToyTrainer):
    @classmethod
    def build_train_loader(cls, cfg, start_iter):
        return FailingLoader(cfg, start_iter)


def test_error_in_training_saves_the_last_completed_iteration_and_logs_its_path(tmp_path, caplog):
    trainer = make_trainer(tmp_path, {"DATASETS.TEST": "()", "SOLVER.CHECKPOINT_PERIOD": 100}, trainer_cls=FailingTrainer)
    with caplog.at_level(logging.ERROR, logger="ov_avss.engine.trainer"), pytest.raises(ValueError, match="unreadable"):
        trainer.train()
    checkpoint = torch.load(tmp_path / "model_0000002.pth", weights_only=True)
    assert checkpoint["iteration"] == 2
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000002.pth"
    assert f"weights of iteration 2 are in {tmp_path / 'model_0000002.pth'}" in caplog.text
    resumed = make_trainer(tmp_path, {"DATASETS.TEST": "()"}, resume=True)
    assert resumed.start_iter == 3


class NanPredictionTrainer(ToyTrainer):
    """Its model's criterion finds NaN predictions at iteration 3 (as VideoSetCriterion does)."""

    @classmethod
    def build_model(cls, cfg):
        model = super().build_model(cfg)
        forward = model.forward
        calls = []

        def failing_forward(batched_inputs):
            calls.append(1)
            if model.training and len(calls) == 4:
                raise FloatingPointError("predictions are non-finite before Hungarian matching: pred_masks has 3 NaN")
            return forward(batched_inputs)

        model.forward = failing_forward
        return model


def test_nan_predictions_error_names_the_iteration(tmp_path):
    trainer = make_trainer(tmp_path, {"DATASETS.TEST": "()"}, trainer_cls=NanPredictionTrainer)
    with pytest.raises(FloatingPointError, match=r"non-finite at iteration 3: predictions .* pred_masks has 3 NaN"):
        trainer.train()
    assert sorted(p.name for p in tmp_path.glob("model_*.pth")) == ["model_0000001.pth"]


class PoisonedTrainer(ToyTrainer):
    @classmethod
    def build_train_loader(cls, cfg, start_iter):
        return ToyTrainLoader(cfg, start_iter, poisoned_batch=3)


def test_nan_loss_raises_with_iteration_and_term_and_saves_nothing_new(tmp_path):
    trainer = make_trainer(tmp_path, {"DATASETS.TEST": "()"}, trainer_cls=PoisonedTrainer)
    with pytest.raises(FloatingPointError, match=r"iteration 3: loss_reg = nan") as info:
        trainer.train()
    assert "loss_bce" not in str(info.value)
    checkpoints = sorted(p.name for p in tmp_path.glob("*.pth") if p.name.startswith("model_"))
    assert checkpoints == ["model_0000001.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not (tmp_path / "inference").exists()  # no final evaluation after a failure


def test_bf16_autocast_step_on_cpu(tmp_path):
    trainer = make_trainer(
        tmp_path,
        {"SOLVER.AMP.ENABLED": True, "SOLVER.AMP.DTYPE": "bfloat16", "SOLVER.MAX_ITER": 2, "DATASETS.TEST": "()"},
    )
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert trainer.grad_scaler is None
    assert trainer.model.last_feature_dtype == torch.bfloat16
    assert all(torch.isfinite(torch.tensor(v)) for v in logged_losses(tmp_path).values())
    assert not torch.equal(initial["backbone.weight"], trainer.model.state_dict()["backbone.weight"])
    assert trainer.model.backbone.weight.dtype == torch.float32  # master weights stay fp32


def logged_series(output_dir, name: str) -> dict[int, float]:
    with open(os.path.join(output_dir, "metrics.json")) as f:
        records = [json.loads(line) for line in f]
    return {r["iteration"]: r[name] for r in records if name in r}


def test_gradient_accumulation_matches_large_batch(tmp_path):
    # 6 iterations cover the warmup (2 iterations) and the LR step at iteration 4.
    common = {"SOLVER.OPTIMIZER": "SGD", "SOLVER.MAX_ITER": 6, "DATASETS.TEST": "()"}
    large = make_trainer(tmp_path / "large", {**common, "SOLVER.IMS_PER_BATCH": 4})
    large.train()
    accumulated = make_trainer(
        tmp_path / "accum", {**common, "SOLVER.IMS_PER_BATCH": 2, "SOLVER.GRAD_ACCUM_STEPS": 2}
    )
    accumulated.train()
    for name, value in large.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    large_losses, accumulated_losses = logged_losses(tmp_path / "large"), logged_losses(tmp_path / "accum")
    assert large_losses == pytest.approx(accumulated_losses, rel=1e-5)
    # The schedule counts optimizer steps, not micro-batches: the same LR at every iteration.
    large_lrs, accumulated_lrs = logged_series(tmp_path / "large", "lr"), logged_series(tmp_path / "accum", "lr")
    assert sorted(accumulated_lrs) == list(range(6))
    assert accumulated_lrs == pytest.approx(large_lrs, rel=1e-12)
    assert accumulated_lrs[0] < accumulated_lrs[2] and accumulated_lrs[5] < accumulated_lrs[3]  # warmup, step
    # A different batch would not match: the comparison is sensitive.
    assert large.model.state_dict()["backbone.weight"].abs().sum() > 0


def test_peak_memory_in_the_log_line_metrics_json_and_tensorboard(tmp_path, caplog):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with caplog.at_level(logging.INFO, logger="ov_avss.utils.events"):
        make_trainer(tmp_path, {"SOLVER.MAX_ITER": 3, "DATASETS.TEST": "()"}).train()
    peaks = logged_series(tmp_path, "max_mem_mib")
    assert sorted(peaks) == [0, 1, 2]
    # On CPU the peak resident set: at least the interpreter with torch loaded, and a peak.
    assert all(value > 50 for value in peaks.values())
    assert peaks[0] <= peaks[1] <= peaks[2]
    lines = [record.getMessage() for record in caplog.records if "iter: 2" in record.getMessage()]
    assert len(lines) == 1 and f"max_mem: {peaks[2]:.0f}M" in lines[0]
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [event.step for event in events.Scalars("max_mem_mib")] == [0, 1, 2]
    assert events.Scalars("max_mem_mib")[-1].value == pytest.approx(peaks[2], rel=1e-6)


def test_fp16_gradient_scaler_steps_once_per_accumulated_step(tmp_path):
    common = {
        "SOLVER.OPTIMIZER": "SGD", "SOLVER.MAX_ITER": 3, "DATASETS.TEST": "()",
        "SOLVER.AMP.ENABLED": True, "SOLVER.AMP.DTYPE": "float16",
    }
    large = make_trainer(tmp_path / "large", {**common, "SOLVER.IMS_PER_BATCH": 4})
    large.train()
    accumulated = make_trainer(
        tmp_path / "accum", {**common, "SOLVER.IMS_PER_BATCH": 2, "SOLVER.GRAD_ACCUM_STEPS": 2}
    )
    updates = []
    real_update = accumulated.grad_scaler.update
    accumulated.grad_scaler.update = lambda *args, **kwargs: (updates.append(accumulated.iter), real_update(*args, **kwargs))
    accumulated.train()
    assert accumulated.model.last_feature_dtype == torch.float16
    assert updates == [0, 1, 2]  # once per optimizer step, after its last micro-batch
    # No step was skipped (a skip would halve the scale), and the scaled micro-batch gradients
    # were unscaled once: the update is the large batch's, to fp16 accuracy.
    assert accumulated.grad_scaler.get_scale() == large.grad_scaler.get_scale() == 65536.0
    for name, value in large.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], value, rtol=1e-3, atol=1e-4)
    saved = torch.load(tmp_path / "accum" / "model_final.pth", weights_only=True)
    assert saved["grad_scaler"]["scale"] == 65536.0 and saved["grad_accumulation"] == {"steps": 2}


def test_resume_with_another_accumulation_count_warns(tmp_path, caplog):
    overrides = {"SOLVER.IMS_PER_BATCH": 2, "SOLVER.GRAD_ACCUM_STEPS": 2, "DATASETS.TEST": "()", "SOLVER.MAX_ITER": 2}
    make_trainer(tmp_path, overrides).train()
    with caplog.at_level(logging.WARNING, logger="ov_avss.engine.trainer"):
        make_trainer(tmp_path, {**overrides, "SOLVER.GRAD_ACCUM_STEPS": 2}, resume=True)
    assert "GRAD_ACCUM_STEPS" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="ov_avss.engine.trainer"):
        make_trainer(tmp_path, {**overrides, "SOLVER.GRAD_ACCUM_STEPS": 4}, resume=True)
    assert "written with SOLVER.GRAD_ACCUM_STEPS 2, this run uses 4" in caplog.text


def test_eval_only_writes_metrics_of_loaded_weights(tmp_path):
    # Weights that predict "sounding" everywhere: pixel accuracy = fraction of positive pixels.
    trainer = make_trainer(tmp_path / "init", {"DATASETS.TEST": "()"})
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state["predictor.weight"].zero_()
    state["predictor.bias"].fill_(10.0)
    weights = tmp_path / "all_positive.pth"
    torch.save(state, weights)

    output_dir = tmp_path / "eval"
    args = default_argument_parser().parse_args(
        ["--eval-only", *toy_opts(str(output_dir), {"MODEL.WEIGHTS": str(weights)})]
    )
    results = default_main(args, ToyTrainer)

    masks = torch.stack([toy_window(100 + i)["sem_seg_gt"] for i in range(NUM_TEST_CLIPS)])
    expected = masks.float().mean().item()
    written = json.loads((output_dir / "inference" / TEST_DATASET / "metrics.json").read_text())
    assert written == results[TEST_DATASET]
    assert written["toy"]["num_clips"] == NUM_TEST_CLIPS
    assert written["toy"]["pixel_acc"] == pytest.approx(expected)
    assert (output_dir / "config.yaml").is_file()
    assert not list(output_dir.glob("model_*.pth"))  # evaluation does not train or save


def test_audio_ablation_eval_writes_beside_the_normal_evaluation(tmp_path):
    output_dir = tmp_path / "eval"
    normal = default_main(default_argument_parser().parse_args(["--eval-only", *toy_opts(str(output_dir))]), ToyTrainer)
    normal_file = output_dir / "inference" / TEST_DATASET / "metrics.json"
    normal_text = normal_file.read_text()
    for mode in ("zero", "shuffle"):
        args = default_argument_parser().parse_args(
            ["--eval-only", *toy_opts(str(output_dir), {"TEST.AUDIO_ABLATION": mode})]
        )
        ablated = default_main(args, ToyTrainer)
        ablated_file = output_dir / f"inference_audio_{mode}" / TEST_DATASET / "metrics.json"
        assert json.loads(ablated_file.read_text()) == ablated[TEST_DATASET]
    assert normal_file.read_text() == normal_text
    assert json.loads(normal_text) == normal[TEST_DATASET]
    assert sorted(p.name for p in output_dir.iterdir() if p.name.startswith("inference")) == [
        "inference", "inference_audio_shuffle", "inference_audio_zero",
    ]


def test_best_checkpoint_keeps_the_best_evaluation(tmp_path):
    metric = f"{TEST_DATASET}/toy/pixel_acc"
    trainer = make_trainer(tmp_path, {"TEST.EVAL_PERIOD": 1, "TEST.BEST_CHECKPOINT_METRIC": "toy/pixel_acc"})
    trainer.train()
    with open(tmp_path / "metrics.json") as f:
        evaluated = [(r["iteration"], r[metric]) for r in map(json.loads, f) if metric in r]
    assert len(evaluated) >= 5
    best_iteration, best_value = max(evaluated, key=lambda pair: pair[1])  # first of equal values
    record = json.loads((tmp_path / "model_best.json").read_text())
    assert record == {"metric": metric, "value": pytest.approx(best_value), "iteration": best_iteration}
    saved = torch.load(tmp_path / "model_best.pth", weights_only=False)
    assert saved["iteration"] == best_iteration and saved["best_metric"] == {metric: pytest.approx(best_value)}


def test_best_checkpoint_metric_must_exist(tmp_path):
    trainer = make_trainer(tmp_path, {"TEST.EVAL_PERIOD": 2, "TEST.BEST_CHECKPOINT_METRIC": "toy/mIoU"})
    with pytest.raises(KeyError, match="toy_clips_test/toy/mIoU"):
        trainer.train()
