"""TPAVI: AVSBench's own audio-visual segmentation model (Zhou et al., ECCV 2022 / IJCV 2024)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..audio import build_audio_encoder
from ..backbone import Backbone, build_backbone
from ..meta_arch.build import META_ARCH_REGISTRY
from ..meta_arch.preprocess import FramePreprocessing, pad_to
from .fusion_decoder import FeatureFusionBlock, SegmentationHead
from .losses import (
    AVM_LOSSES,
    avm_kl_hard_mask_frame_mean,
    avm_kl_soft_mask_batch_sum,
    binary_segmentation_loss,
    semantic_segmentation_loss,
)
from .reducer import DilatedReducer
from .tpavi_block import TPAVIBlock

__all__ = ["TPAVI"]

_STAGE_NAMES = ("res2", "res3", "res4", "res5")


@META_ARCH_REGISTRY.register()
class TPAVI(FramePreprocessing):
    """Backbone (res2..res5) -> per-stage dilated reducers to C channels -> TPAVI blocks with the
    frozen audio encoder's embeddings on the chosen stages -> four fusion blocks -> head.

    Input: ``list[VideoInput]`` with ``frames`` uint8 ``[T, 3, H, W]`` (H, W multiples of 32 after
    padding), ``audio`` log-mel examples ``[T, 1, 96, 64]``, ``frame_valid`` (frames with ground
    truth) and in training ``targets``. Windows shorter than ``input_frames`` are padded (frames of
    the mean colour, zero audio embeddings; their features and outputs zeroed, as the release's
    AVSS pads v1 windows). Training returns ``{"loss_bce" | "loss_ce", ["loss_avm"]}``; eval returns
    per window ``sem_seg`` int64 ``[T, H0, W0]`` (binary: 1 = sounding; semantic: the label space's
    labels) and ``sounding_prob`` float32 ``[T, H0, W0]``, and ``segments`` (one per class
    present: ``scores`` [K] = mean class probability over its pixels, ``labels`` [K] 0-based,
    ``masks`` bool [K, T, H0, W0]) for the demo and overlays.
    """

    # Compiled by MODEL.COMPILE (meta_arch/build.py); not the frozen audio encoder (see OV_AVSS).
    COMPILED_PARTS = ("backbone", "reducers", "tpavi_blocks", "fusion", "head")

    def __init__(
        self,
        *,
        backbone: Backbone,
        audio_encoder: nn.Module,
        channels: int,
        num_classes: int,
        tpavi_stages: list[int],
        window_frames: int,
        input_frames: int,
        audio_projection_bias: bool,
        avm_loss: str,
        avm_stages: list[int],
        avm_weight: float,
        pixel_mean: list[float],
        pixel_std: list[float],
    ) -> None:
        """
        Args:
            backbone: gives ``res2``..``res5``.
            audio_encoder: embeds ``[N, 1, 96, 64]`` -> ``[N, embedding_size]``; frozen here.
            channels: C, width of reducers, TPAVI blocks and decoder.
            num_classes: 1 (binary logit) or background + K categories.
            tpavi_stages: stages (0..3) with a TPAVI block.
            window_frames: frames per TPAVI window; ``input_frames`` must be a multiple of it.
            input_frames: frames the model runs per window (shorter windows are padded).
            audio_projection_bias: bias of each block's audio projection.
            avm_loss: one of ``AVM_LOSSES`` (``""`` = off).
            avm_stages: stages of the AVM loss (each needs a TPAVI block).
            avm_weight: weight of the AVM loss.
            pixel_mean, pixel_std: RGB normalisation (0-255 scale).
        """
        super().__init__(pixel_mean=pixel_mean, pixel_std=pixel_std, size_divisibility=32)
        shapes = backbone.output_shape()
        missing = [name for name in _STAGE_NAMES if name not in shapes]
        if missing:
            raise ValueError(f"TPAVI needs backbone outputs {list(_STAGE_NAMES)}; the backbone lacks {missing}")
        if sorted(set(tpavi_stages)) != sorted(tpavi_stages) or not set(tpavi_stages) <= {0, 1, 2, 3}:
            raise ValueError(f"MODEL.TPAVI.STAGES must be distinct stages of 0..3, got {list(tpavi_stages)}")
        if avm_loss not in AVM_LOSSES:
            raise ValueError(f"MODEL.TPAVI.AVM_LOSS must be one of {list(AVM_LOSSES)}, got '{avm_loss}'")
        if avm_loss and (not avm_stages or not set(avm_stages) <= set(tpavi_stages)):
            raise ValueError(
                f"MODEL.TPAVI.AVM_STAGES {list(avm_stages)} must be a non-empty subset of MODEL.TPAVI.STAGES "
                f"{list(tpavi_stages)} (the loss compares each stage's TPAVI output with its projected audio)"
            )
        if avm_loss == "soft_mask_batch_sum" and num_classes != 1:
            raise ValueError("MODEL.TPAVI.AVM_LOSS 'soft_mask_batch_sum' needs one logit (NUM_CLASSES 1)")
        if avm_loss == "hard_mask_frame_mean" and num_classes < 2:
            raise ValueError("MODEL.TPAVI.AVM_LOSS 'hard_mask_frame_mean' needs background + classes (NUM_CLASSES >= 2)")
        if window_frames < 1 or input_frames % window_frames:
            raise ValueError(
                f"MODEL.TPAVI.CLIP_FRAMES ({input_frames}) must be a multiple of MODEL.TPAVI.WINDOW_FRAMES ({window_frames})"
            )
        self.backbone = backbone
        self.audio_encoder = audio_encoder
        self.audio_encoder.requires_grad_(False)
        audio_dim = audio_encoder.embedding_size
        self.reducers = nn.ModuleList(DilatedReducer(shapes[name].channels, channels) for name in _STAGE_NAMES)
        self.tpavi_blocks = nn.ModuleDict(
            {str(stage): TPAVIBlock(channels, audio_dim, window_frames, audio_projection_bias) for stage in sorted(tpavi_stages)}
        )
        # fusion[s] fuses stage s; the deepest one (stage 3) has no skip input.
        self.fusion = nn.ModuleList(FeatureFusionBlock(channels, has_skip=stage < 3) for stage in range(4))
        self.head = SegmentationHead(channels, num_classes)
        self.num_classes = num_classes
        self.input_frames = input_frames
        self.avm_loss = avm_loss
        self.avm_stages = list(avm_stages)
        self.avm_weight = avm_weight

    @classmethod
    def from_config(cls, cfg) -> "TPAVI":
        tpavi = cfg.MODEL.TPAVI
        # Built in this order (random initialisation draws in sequence).
        backbone = build_backbone(cfg)
        audio_encoder = build_audio_encoder(cfg)
        return cls(
            backbone=backbone,
            audio_encoder=audio_encoder,
            channels=tpavi.CHANNELS,
            num_classes=tpavi.NUM_CLASSES,
            tpavi_stages=list(tpavi.STAGES),
            window_frames=tpavi.WINDOW_FRAMES,
            input_frames=tpavi.CLIP_FRAMES,
            audio_projection_bias=tpavi.AUDIO_PROJECTION_BIAS,
            avm_loss=tpavi.AVM_LOSS,
            avm_stages=list(tpavi.AVM_STAGES),
            avm_weight=tpavi.AVM_WEIGHT,
            pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
            pixel_std=list(cfg.MODEL.PIXEL_STD),
        )

    # ------------------------------------------------------------------------------- network
    def run(self, images: torch.Tensor, audio_embeddings: torch.Tensor, frame_exists: torch.Tensor):
        """The network on ``N = B * input_frames`` frames, windows consecutive.

        Args:
            images: normalised ``[N, 3, H, W]``, H and W multiples of 32.
            audio_embeddings: ``[N, audio_dim]``.
            frame_exists: bool ``[N]``; False marks padding frames (their embeddings, features
                and logits are zeroed).

        Returns:
            logits ``[N, num_classes, H, W]``; per stage 0..3 the stage map as the decoder leaves
            it ``[N, C, h_s, w_s]`` (ReLU'd, see ``ResidualConvUnit``); per TPAVI stage the
            projected audio ``[N, C]`` (dict stage -> tensor).
        """
        # Release quirk (AVSS): padding frames' audio embeddings, stage maps and logits are zeroed
        # by the frame-existence flag; a no-op for windows without padding (S4 / MS3).
        exists = frame_exists.to(images.dtype)[:, None, None, None]
        audio_embeddings = audio_embeddings * exists[:, :, 0, 0]
        features = self.backbone(images)
        stage_maps, projected_audio = [], {}
        for stage, name in enumerate(_STAGE_NAMES):
            stage_map = self.reducers[stage](features[name]) * exists
            if str(stage) in self.tpavi_blocks:
                stage_map, projected_audio[stage] = self.tpavi_blocks[str(stage)](stage_map, audio_embeddings)
                stage_map = stage_map * exists
            stage_maps.append(stage_map)
        decoded, rectified = self.fusion[3](stage_maps[3])
        rectified_maps = [rectified]
        for stage in (2, 1, 0):
            decoded, rectified = self.fusion[stage](decoded, stage_maps[stage])
            rectified_maps.insert(0, rectified)
        logits = self.head(decoded) * exists
        return logits, rectified_maps, projected_audio

    # ------------------------------------------------------------------------------- inputs
    def _check_window(self, window: dict) -> int:
        uid = window.get("uid", "?")
        for key in ("frames", "audio"):
            if key not in window:
                raise KeyError(f"Window '{uid}' lacks the key '{key}' the model needs")
        frames, audio = window["frames"], window["audio"]
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"Window '{uid}': frames must be [T, 3, H, W], got {tuple(frames.shape)}")
        num_frames = int(frames.shape[0])
        if tuple(audio.shape) != (num_frames, *self.audio_encoder.front_end.example_shape):
            raise ValueError(
                f"Window '{uid}': audio must be [T = {num_frames}, {', '.join(map(str, self.audio_encoder.front_end.example_shape))}] "
                f"examples, got {tuple(audio.shape)}"
            )
        if not 1 <= num_frames <= self.input_frames:
            raise ValueError(f"Window '{uid}': {num_frames} frames; the model runs windows of up to MODEL.TPAVI.CLIP_FRAMES = {self.input_frames}")
        return num_frames

    def _prepare(self, batched_inputs: list[dict]):
        """Normalised, padded frames ``[B * input_frames, 3, Hp, Wp]``, audio embeddings and the
        existence flags; the padded size; each window's frame count."""
        counts = [self._check_window(window) for window in batched_inputs]
        padded_size = self.padded_size(tuple(int(s) for s in window["frames"].shape[-2:]) for window in batched_inputs)
        images = self.preprocess_frames([window["frames"] for window in batched_inputs], padded_size)
        examples = torch.cat([torch.as_tensor(window["audio"]) for window in batched_inputs]).to(self.device, torch.float32)
        with torch.no_grad():
            embeddings = self.audio_encoder(examples)
        total = len(batched_inputs) * self.input_frames
        padded_images = images.new_zeros(total, *images.shape[1:])  # zero after normalisation: the mean colour
        padded_embeddings = embeddings.new_zeros(total, embeddings.shape[1])
        exists = torch.zeros(total, dtype=torch.bool, device=self.device)
        start = 0
        for index, count in enumerate(counts):
            rows = slice(index * self.input_frames, index * self.input_frames + count)
            padded_images[rows] = images[start : start + count]
            padded_embeddings[rows] = embeddings[start : start + count]
            exists[rows] = True
            start += count
        return padded_images, padded_embeddings, exists, padded_size, counts

    def forward(self, batched_inputs: list[dict]):
        if not batched_inputs:
            raise ValueError("TPAVI got an empty batch")
        images, embeddings, exists, padded_size, counts = self._prepare(batched_inputs)
        if self.training:
            logits, stage_maps, projected_audio = self.run(images, embeddings, exists)
            return self.losses(batched_inputs, counts, padded_size, logits, stage_maps, projected_audio)
        with torch.no_grad():
            logits, _, _ = self.run(images, embeddings, exists)
        return [
            self._window_output(window, logits[index * self.input_frames : index * self.input_frames + count])
            for index, (window, count) in enumerate(zip(batched_inputs, counts))
        ]

    # ------------------------------------------------------------------------------- training
    def _target_maps(self, batched_inputs: list[dict], counts: list[int], padded_size) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame the target label map int64 ``[N, Hp, Wp]`` (binary: 1 = any sounding mask;
        semantic: target label + 1, 0 = background) and the supervision flags bool ``[N]``."""
        maps = torch.zeros(len(batched_inputs) * self.input_frames, *padded_size, dtype=torch.int64, device=self.device)
        supervised = torch.zeros(maps.shape[0], dtype=torch.bool, device=self.device)
        for index, (window, count) in enumerate(zip(batched_inputs, counts)):
            uid = window.get("uid", "?")
            if "targets" not in window:
                raise KeyError(f"Window '{uid}' lacks the key 'targets' training needs")
            masks = window["targets"]["masks"].to(self.device, torch.bool)  # [M, T, H, W]
            labels = window["targets"]["labels"].to(self.device, torch.int64)
            if masks.dim() != 4 or tuple(masks.shape[1:]) != (count, *window["frames"].shape[-2:]):
                raise ValueError(f"Window '{uid}': target masks must be [M, T, H, W] like the frames, got {tuple(masks.shape)}")
            if self.num_classes > 1 and bool((labels + 1 >= self.num_classes).any()):
                raise ValueError(f"Window '{uid}': target labels {labels.tolist()} exceed the model's {self.num_classes - 1} classes")
            window_map = torch.zeros(count, *masks.shape[-2:], dtype=torch.int64, device=self.device)
            for label, mask in zip(labels, masks):
                window_map[mask] = 1 if self.num_classes == 1 else int(label) + 1
            rows = slice(index * self.input_frames, index * self.input_frames + count)
            maps[rows] = pad_to(window_map, padded_size)
            frame_valid = window.get("frame_valid")
            supervised[rows] = True if frame_valid is None else frame_valid.to(self.device, torch.bool)
        return maps, supervised

    def losses(self, batched_inputs, counts, padded_size, logits, stage_maps, projected_audio) -> dict[str, torch.Tensor]:
        target, supervised = self._target_maps(batched_inputs, counts, padded_size)
        losses = {}
        if self.num_classes == 1:
            losses["loss_bce"] = binary_segmentation_loss(logits, target, supervised)
        else:
            losses["loss_ce"] = semantic_segmentation_loss(logits, target, supervised)
        if self.avm_loss:
            maps = [stage_maps[stage] for stage in self.avm_stages]
            audio = [projected_audio[stage] for stage in self.avm_stages]
            if self.avm_loss == "soft_mask_batch_sum":
                avm = avm_kl_soft_mask_batch_sum(logits, maps, audio)
            else:
                avm = avm_kl_hard_mask_frame_mean(logits, maps, audio, supervised)
            losses["loss_avm"] = self.avm_weight * avm
        return losses

    # ------------------------------------------------------------------------------- inference
    def _window_output(self, window: dict, logits: torch.Tensor) -> dict:
        """``logits [T, K, Hp, Wp]`` of one window -> its outputs at the original size."""
        height, width = (int(s) for s in window["frames"].shape[-2:])
        output_size = (int(window.get("height", height)), int(window.get("width", width)))
        logits = F.interpolate(logits[..., :height, :width].float(), size=output_size, mode="bilinear", align_corners=False)
        if self.num_classes == 1:
            sounding_prob = logits[:, 0].sigmoid()
            sem_seg = (sounding_prob > 0.5).to(torch.int64)
            class_probs = sounding_prob[None]  # [1, T, H0, W0]
        else:
            probs = logits.softmax(1)
            sounding_prob = 1.0 - probs[:, 0]
            sem_seg = probs.argmax(1)
            class_probs = probs[:, 1:].transpose(0, 1)  # [K, T, H0, W0]
        # One segment per class present in the window: its pixels, scored by its mean probability there.
        present = [k for k in range(1, class_probs.shape[0] + 1) if bool((sem_seg == k).any())]
        masks = torch.stack([sem_seg == k for k in present]) if present else sem_seg.new_zeros((0, *sem_seg.shape), dtype=torch.bool)
        scores = torch.stack([class_probs[k - 1][masks[i]].mean() for i, k in enumerate(present)]) if present else class_probs.new_zeros(0)
        return {
            "sem_seg": sem_seg,
            "sounding_prob": sounding_prob.to(torch.float32),
            "segments": {
                "scores": scores.to(torch.float32),
                "labels": torch.tensor([k - 1 for k in present], dtype=torch.int64, device=sem_seg.device),
                "masks": masks,
            },
        }
