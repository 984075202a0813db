"""A tiny model, loaders, dataset and evaluator for exercising the engine on CPU.

Imported by the engine tests, and run as a script (``python tests/engine/toy_task.py ...``,
same flags as ``train_net.py``) for the multi-process and signal tests.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:  # when run as a script from anywhere
    sys.path.insert(0, REPO_ROOT)

from ov_avss.data.catalog import DATASET_REGISTRY, DatasetMetadata, DatasetSpec, register_dataset  # noqa: E402
from ov_avss.engine import HookBase, Trainer, default_main, launch_from_args, parse_and_check_args  # noqa: E402
from ov_avss.evaluation.build import EVALUATOR_REGISTRY  # noqa: E402
from ov_avss.evaluation.evaluator import DatasetEvaluator  # noqa: E402
from ov_avss.modeling.meta_arch.build import META_ARCH_REGISTRY  # noqa: E402
from ov_avss.utils import comm  # noqa: E402

TEST_DATASET = "toy_clips_test"
NUM_TEST_CLIPS = 6
FRAMES, SIZE = 2, 8


def toy_window(sample_index: int, poisoned: bool = False) -> dict[str, Any]:
    """Window ``sample_index``: random frames [T, 3, H, W] and the mask 'red channel > 127'."""
    generator = torch.Generator().manual_seed(1000 + sample_index)
    frames = torch.randint(0, 256, (FRAMES, 3, SIZE, SIZE), generator=generator, dtype=torch.uint8)
    return {
        "uid": f"clip{sample_index}",
        "dataset_name": "toy",
        "frames": frames,
        "sem_seg_gt": (frames[:, 0] > 127).long(),
        "poisoned": poisoned,
    }


@META_ARCH_REGISTRY.register()
class ToyWindowSegmenter(nn.Module):
    """Conv backbone + norm + query embedding + dropout; losses ``loss_bce`` and ``loss_reg``."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.query_embed = nn.Embedding(1, 4)
        self.dropout = nn.Dropout(dropout)
        self.predictor = nn.Conv2d(4, 1, 1)
        self.frozen_projection = nn.Linear(4, 4).requires_grad_(False)
        self.last_feature_dtype: torch.dtype | None = None

    @classmethod
    def from_config(cls, cfg) -> "ToyWindowSegmenter":
        return cls(cfg.MODEL.MASK_FORMER.DROPOUT)

    def forward(self, batched_inputs: list[dict[str, Any]]):
        device = self.predictor.weight.device
        frames = torch.cat([window["frames"] for window in batched_inputs]).to(device).float() / 255.0
        features = self.backbone(frames)
        self.last_feature_dtype = features.dtype
        features = self.dropout(torch.relu(self.norm(features)))
        features = features + self.query_embed.weight[0][None, :, None, None]
        mask_logits = self.predictor(features)[:, 0]  # [B*T, H, W]
        if self.training:
            targets = torch.cat([window["sem_seg_gt"] for window in batched_inputs]).to(device).float()
            loss_reg = 0.01 * mask_logits.float().pow(2).mean()
            if any(window["poisoned"] for window in batched_inputs):
                loss_reg = loss_reg * float("nan")
            return {
                "loss_bce": F.binary_cross_entropy_with_logits(mask_logits.float(), targets),
                "loss_reg": loss_reg,
            }
        logits_per_window = mask_logits.split([window["frames"].shape[0] for window in batched_inputs])
        return [{"sem_seg": (logits > 0).long(), "sounding_prob": logits.sigmoid()} for logits in logits_per_window]


class ToyTrainLoader:
    """Infinite, resumable: batch ``b`` of rank ``r`` holds samples ``(b * world + r) * n + k``."""

    def __init__(self, cfg, start_iter: int, poisoned_batch: int | None = None) -> None:
        self.batch_size = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        self.start_iter = start_iter
        self.poisoned_batch = poisoned_batch

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        world_size, rank = comm.get_world_size(), comm.get_rank()
        batch_index = self.start_iter
        while True:
            first = (batch_index * world_size + rank) * self.batch_size
            poisoned = batch_index == self.poisoned_batch
            yield [toy_window(first + k, poisoned) for k in range(self.batch_size)]
            batch_index += 1


@EVALUATOR_REGISTRY.register()
class ToyPixelAccuracy(DatasetEvaluator):
    """Pixel accuracy of ``sem_seg`` against ``sem_seg_gt``, gathered over ranks."""

    def __init__(self, dataset_name: str, cfg, output_dir: str) -> None:
        self.output_dir = output_dir
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._uids: list[str] = []

    def process(self, inputs, outputs) -> None:
        for window, output in zip(inputs, outputs):
            self._correct += int((output["sem_seg"] == window["sem_seg_gt"]).sum())
            self._total += window["sem_seg_gt"].numel()
            self._uids.append(window["uid"])

    def evaluate(self):
        gathered = comm.gather((self._correct, self._total, self._uids))
        if not comm.is_main_process():
            return None
        correct = sum(part[0] for part in gathered)
        total = sum(part[1] for part in gathered)
        uids = sorted(uid for part in gathered for uid in part[2])
        return {"toy": {"pixel_acc": correct / total, "num_clips": len(uids)}}


if TEST_DATASET not in DATASET_REGISTRY:
    register_dataset(
        DatasetSpec(
            metadata=DatasetMetadata(name=TEST_DATASET, vocabulary=("thing",), evaluator_type="ToyPixelAccuracy"),
            load=lambda root: [],
        )
    )


class DumpWeightsHook(HookBase):
    """After training, each rank writes its model weights to ``OUTPUT_DIR/weights_rank<r>.pth``."""

    def after_train(self) -> None:
        model = self.trainer.model
        model = getattr(model, "module", model)
        path = os.path.join(self.trainer.cfg.OUTPUT_DIR, f"weights_rank{comm.get_rank()}.pth")
        torch.save(model.state_dict(), path)


class GradientSyncCounter(HookBase):
    """Under DDP, counts the gradient all-reduces (DDP comm-hook calls, one per bucket) of each
    iteration and writes them to ``OUTPUT_DIR/gradient_syncs_rank<r>.json``."""

    def __init__(self) -> None:
        self._calls = 0
        self._per_iteration: list[int] = []

    def before_train(self) -> None:
        model = self.trainer.model
        if not isinstance(model, DistributedDataParallel):
            return

        def counting_allreduce(state, bucket):
            self._calls += 1
            return default_hooks.allreduce_hook(state, bucket)

        model.register_comm_hook(None, counting_allreduce)

    def after_step(self) -> None:
        self._per_iteration.append(self._calls)
        self._calls = 0

    def after_train(self) -> None:
        path = os.path.join(self.trainer.cfg.OUTPUT_DIR, f"gradient_syncs_rank{comm.get_rank()}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self._per_iteration, f)


class ToyTrainer(Trainer):
    @classmethod
    def check_train_data(cls, cfg) -> None:
        """The toy windows are made in memory: there are no files to check."""

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int):
        return ToyTrainLoader(cfg, start_iter)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        shard = range(comm.get_rank(), NUM_TEST_CLIPS, comm.get_world_size())
        return [[toy_window(100 + index)] for index in shard]

    def build_hooks(self):
        return super().build_hooks() + [DumpWeightsHook(), GradientSyncCounter()]


def toy_opts(output_dir: str, overrides: dict[str, Any] | None = None) -> list[str]:
    """Command-line style overrides that turn the default config into the toy task."""
    settings = {
        "MODEL.META_ARCHITECTURE": "ToyWindowSegmenter",
        "MODEL.DEVICE": "cpu",
        "MODEL.WEIGHTS": "",
        "MODEL.MASK_FORMER.DROPOUT": 0.0,
        "DATASETS.TEST": f"('{TEST_DATASET}',)",
        "SOLVER.MAX_ITER": 6,
        "SOLVER.BASE_LR": 0.05,
        "SOLVER.STEPS": "(4,)",
        "SOLVER.WARMUP_ITERS": 2,
        "SOLVER.WARMUP_FACTOR": 0.5,
        "SOLVER.CHECKPOINT_PERIOD": 2,
        "SOLVER.IMS_PER_BATCH": 2,
        "SOLVER.CLIP_GRADIENTS.CLIP_VALUE": 1.0,
        "LOG_PERIOD": 1,
        "SEED": 7,
        "OUTPUT_DIR": output_dir,
    }
    settings.update(overrides or {})
    return [str(item) for pair in settings.items() for item in pair]


def main(args):
    return default_main(args, ToyTrainer)


if __name__ == "__main__":
    torch.set_num_threads(1)
    launch_from_args(main, parse_and_check_args())
