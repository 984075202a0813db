"""AVISM: audio-visual instance segmentation (the AVIS CVPR 2025 baseline), the whole model."""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from ..audio import build_audio_encoder
from ..avism import (
    AVISMFrameDecoder, AVISMVideoDecoder, TrackSetCriterion, query_similarity_loss,
)
from ..backbone import Backbone, build_backbone
from ..pixel_decoder import build_pixel_decoder
from .build import META_ARCH_REGISTRY
from .preprocess import FramePreprocessing, pad_to

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class AVISM(FramePreprocessing):
    """Backbone + pixel decoder + audio-conditioned frame decoder + video-level module.

    Input: ``list[VideoInput]`` with ``frames`` uint8 ``[T, 3, H, W]`` and ``audio``: per-frame
    embeddings ``[T, AUDIO_DIM]`` (AVISeg's ``FEATAudios``), or VGGish log-mel examples
    ``[T, 1, 96, 64]`` when ``MODEL.AVISM.AUDIO_ENCODER_ON`` (a frozen VGGish embeds them);
    optional ``height`` / ``width`` (output size). Training takes windows of
    ``INPUT.SAMPLING_FRAME_NUM`` frames with ``targets``: ``labels`` int64 ``[N]`` (0..K-1) and
    ``masks`` bool ``[N, T, H, W]`` (empty where the instance is absent or silent), and returns
    the weighted losses of the frame decoder (``loss_{ce,mask,dice}[_i]``, per frame) and of the
    video module (``loss_avism_{ce,mask,dice}[_i]``, per video, for each of the last
    ``LAST_LAYER_NUM`` frame-decoder rounds) and, with ``SIM_WEIGHT > 0``, the query similarity
    loss ``loss_clip_sim``. Eval takes one video (batch of 1) of any
    length and returns ``{"segments": {scores float32 [K], labels int64 [K], masks bool
    [K, T, H0, W0]}}`` (on the CPU) with the tracks scoring above
    ``MODEL.AVISM.TEST_SCORE_THRESHOLD``.

    Checkpoints of the AVISM release (``sem_seg_head.pixel_decoder.*``, ``sem_seg_head.predictor.*``,
    ``avism_module.*`` or ``vita_module.*``) load onto this model's names through the
    checkpointer and ``tools/convert_checkpoint.py``, with the renames that
    ``ov_avss.modeling.avism.checkpoint_names`` registers for this architecture.
    """

    # Compiled by MODEL.COMPILE (meta_arch/build.py); not the optional audio encoder (see OV_AVSS).
    COMPILED_PARTS = ("backbone", "pixel_decoder", "frame_decoder", "video_decoder")

    def __init__(
        self,
        *,
        backbone: Backbone,
        audio_encoder: nn.Module | None,
        pixel_decoder: nn.Module,
        frame_decoder: AVISMFrameDecoder,
        video_decoder: AVISMVideoDecoder,
        frame_criterion: TrackSetCriterion,
        video_criterion: TrackSetCriterion,
        similarity_weight: float,
        freeze_detector: bool,
        frame_deep_supervision: bool,
        pixel_mean: list[float],
        pixel_std: list[float],
        size_divisibility: int,
        num_frames: int,
        audio_dim: int,
        num_classes: int,
        run_chunk_size: int,
        interpolate_chunk_size: int,
        max_frames_on_device: int,
        score_threshold: float,
        top_k: int,
    ) -> None:
        """
        Args:
            backbone, pixel_decoder, frame_decoder, video_decoder: the parts (class docstring).
            audio_encoder: embeds log-mel examples (frozen here); None: the input audio is
                already embeddings ``[T, audio_dim]``.
            frame_criterion, video_criterion: losses of the frame decoder and the video module.
            similarity_weight: weight of ``loss_clip_sim`` (``query_similarity_loss``); 0: off.
            freeze_detector: freeze backbone, pixel decoder and frame decoder.
            frame_deep_supervision: frame-decoder losses on every round.
            pixel_mean, pixel_std: RGB normalisation (0-255 scale).
            size_divisibility: frames are padded to a multiple of this and of the backbone's.
            num_frames: frames per training window.
            audio_dim: width of the per-frame audio embeddings.
            num_classes: ``K``.
            run_chunk_size, interpolate_chunk_size, max_frames_on_device: whole-video inference
                chunking (see ``inference``).
            score_threshold: tracks scoring at or below this are dropped.
            top_k: (video query, class) pairs kept by score before thresholding.
        """
        super().__init__(
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            size_divisibility=max(size_divisibility, backbone.size_divisibility),
        )
        self.backbone = backbone
        self.audio_encoder = audio_encoder
        if self.audio_encoder is not None:
            self.audio_encoder.requires_grad_(False)
        self.pixel_decoder = pixel_decoder
        self.frame_decoder = frame_decoder
        self.video_decoder = video_decoder
        if freeze_detector:
            for module in (self.backbone, self.pixel_decoder, self.frame_decoder):
                module.requires_grad_(False)
        self.frame_criterion = frame_criterion
        self.video_criterion = video_criterion
        if similarity_weight > 0 and not video_decoder.similarity_heads:
            raise ValueError("AVISM: similarity_weight > 0 needs a video decoder built with similarity_heads")
        self.similarity_weight = similarity_weight
        self.frame_deep_supervision = frame_deep_supervision
        self.num_frames = num_frames
        self.audio_dim = audio_dim
        self.num_classes = num_classes
        self.run_chunk_size = run_chunk_size
        self.interpolate_chunk_size = interpolate_chunk_size
        self.max_frames_on_device = max_frames_on_device
        self.score_threshold = score_threshold
        self.top_k = top_k

    @classmethod
    def from_config(cls, cfg) -> "AVISM":
        avism = cfg.MODEL.AVISM
        for key in ("TEST_RUN_CHUNK_SIZE", "TEST_INTERPOLATE_CHUNK_SIZE", "TEST_TOPK"):
            if avism[key] < 1:
                raise ValueError(f"MODEL.AVISM.{key} must be >= 1, got {avism[key]}")
        # Built in this order (random initialisation draws in sequence).
        backbone = build_backbone(cfg)
        audio_encoder = build_audio_encoder(cfg) if avism.AUDIO_ENCODER_ON else None
        # With the encoder the decoders read its embeddings; without, AVISeg's FEATAudios.
        audio_dim = audio_encoder.embedding_size if audio_encoder is not None else avism.AUDIO_DIM
        pixel_decoder = build_pixel_decoder(cfg, backbone.output_shape(), audio_dim)
        frame_decoder = AVISMFrameDecoder.from_config(cfg, cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM, audio_dim)
        video_decoder = AVISMVideoDecoder.from_config(cfg, audio_dim)
        mf = cfg.MODEL.MASK_FORMER
        shared = dict(
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, class_weight=mf.CLASS_WEIGHT, mask_weight=mf.MASK_WEIGHT,
            dice_weight=mf.DICE_WEIGHT, num_points=mf.TRAIN_NUM_POINTS, oversample_ratio=mf.OVERSAMPLE_RATIO,
            importance_sample_ratio=mf.IMPORTANCE_SAMPLE_RATIO,
        )
        return cls(
            backbone=backbone,
            audio_encoder=audio_encoder,
            pixel_decoder=pixel_decoder,
            frame_decoder=frame_decoder,
            video_decoder=video_decoder,
            frame_criterion=TrackSetCriterion(prefix="loss_", no_object_weight=mf.NO_OBJECT_WEIGHT, **shared),
            video_criterion=TrackSetCriterion(prefix="loss_avism_", no_object_weight=avism.NO_OBJECT_WEIGHT, **shared),
            similarity_weight=avism.SIM_WEIGHT,
            freeze_detector=avism.FREEZE_DETECTOR,
            frame_deep_supervision=mf.DEEP_SUPERVISION,
            pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
            pixel_std=list(cfg.MODEL.PIXEL_STD),
            size_divisibility=mf.SIZE_DIVISIBILITY,
            num_frames=cfg.INPUT.SAMPLING_FRAME_NUM,
            audio_dim=audio_dim,
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            run_chunk_size=avism.TEST_RUN_CHUNK_SIZE,
            interpolate_chunk_size=avism.TEST_INTERPOLATE_CHUNK_SIZE,
            max_frames_on_device=avism.TEST_MAX_FRAMES_ON_DEVICE,
            score_threshold=avism.TEST_SCORE_THRESHOLD,
            top_k=avism.TEST_TOPK,
        )

    def forward(self, batched_inputs: list[dict]):
        if not batched_inputs:
            raise ValueError("AVISM got an empty batch")
        if self.training:
            return self.losses(batched_inputs)
        if len(batched_inputs) != 1:
            raise ValueError(f"AVISM inference takes one video per batch, got {len(batched_inputs)}")
        return [self.inference(batched_inputs[0])]

    # ------------------------------------------------------------------------------- inputs
    def _audio_embeddings(self, video: dict) -> torch.Tensor:
        """``video["audio"]`` -> ``[T, AUDIO_DIM]`` float on the model's device."""
        audio = torch.as_tensor(video["audio"]).to(self.device, torch.float32)
        uid = video.get("uid", video.get("video_id", "?"))
        if audio.dim() == 4 and self.audio_encoder is not None:
            with torch.no_grad():
                return self.audio_encoder(audio)
        if audio.dim() != 2 or audio.shape[1] != self.audio_dim:
            expected = "[T, 1, 96, 64] log-mel examples" if self.audio_encoder is not None else f"[T, {self.audio_dim}]"
            raise ValueError(f"Video '{uid}': audio must be {expected}, got {tuple(audio.shape)}")
        return audio

    def _check_video(self, video: dict) -> None:
        uid = video.get("uid", video.get("video_id", "?"))
        for key in ("frames", "audio"):
            if key not in video:
                raise KeyError(f"Video '{uid}' lacks the key '{key}' the model needs")
        frames = video["frames"]
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"Video '{uid}': frames must be [T, 3, H, W], got {tuple(frames.shape)}")
        if len(video["audio"]) != frames.shape[0]:
            raise ValueError(f"Video '{uid}': {frames.shape[0]} frames but {len(video['audio'])} audio entries")

    def _frame_level(self, images: torch.Tensor, audio: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Backbone, pixel decoder and frame decoder on ``images [N, 3, Hp, Wp]``: the frame
        outputs, ``frame_queries [L, N, fQ, C]`` and the video mask features ``[N, mask_dim, h, w]``.

        As in the release, the frame masks read the pixel decoder's ``mask_features`` convolution
        of its last FPN output, the video masks the video module's own 1x1 projection of that
        same FPN output (not of the frame mask features)."""
        features = self.backbone(images)
        # Through the module's __call__ so MODEL.COMPILE's compiled pixel decoder runs.
        finest, multi_scale, audio_tokens = self.pixel_decoder(features, audio, levels_only=True)
        frame_mask_features = self.pixel_decoder.frame_mask_features(finest)
        outputs, frame_queries = self.frame_decoder(multi_scale, frame_mask_features, audio_tokens)
        return outputs, frame_queries, self.video_decoder.project_mask_features(finest)

    # ------------------------------------------------------------------------------- training
    def losses(self, batched_inputs: list[dict]) -> dict[str, torch.Tensor]:
        sizes = set()
        for video in batched_inputs:
            self._check_video(video)
            uid = video.get("uid", video.get("video_id", "?"))
            if video["frames"].shape[0] != self.num_frames:
                raise ValueError(
                    f"Video '{uid}': training windows must have INPUT.SAMPLING_FRAME_NUM = {self.num_frames} "
                    f"frames, got {video['frames'].shape[0]}"
                )
            if "targets" not in video:
                raise KeyError(f"Video '{uid}' lacks the key 'targets' training needs")
            sizes.add(tuple(video["frames"].shape[-2:]))
        padded_size = self.padded_size(sizes)
        images = self.preprocess_frames([v["frames"] for v in batched_inputs], padded_size)
        audio = torch.cat([self._audio_embeddings(v) for v in batched_inputs])
        frame_outputs, frame_queries, mask_features = self._frame_level(images, audio)

        window_targets = [self._window_targets(v, padded_size) for v in batched_inputs]
        frame_targets = []
        for target in window_targets:
            for f in range(self.num_frames):
                # The tracks present in frame f; "ids" are their indices in the video's targets.
                ids = torch.nonzero(target["masks"][:, f].flatten(1).any(1)).squeeze(1)
                frame_targets.append(
                    {"labels": target["labels"][ids], "masks": target["masks"][ids][:, f : f + 1], "ids": ids}
                )
        per_frame = lambda out: {"pred_logits": out["pred_logits"], "pred_masks": out["pred_masks"][:, :, None]}  # noqa: E731
        frame_sets = per_frame(frame_outputs)
        if self.frame_deep_supervision:
            frame_sets["aux_outputs"] = [per_frame(aux) for aux in frame_outputs["aux_outputs"]]
        losses, frame_indices = self.frame_criterion.losses_and_indices(frame_sets, frame_targets)
        rounds = frame_queries.shape[0]
        if not self.frame_deep_supervision and self.similarity_weight > 0 and rounds > 1:
            # The similarity loss needs the matching of every round that feeds the video module.
            earlier = frame_outputs["aux_outputs"][-(rounds - 1):]
            earlier_indices = [self.frame_criterion.match(per_frame(aux), frame_targets) for aux in earlier]
            frame_indices = earlier_indices + frame_indices

        video_outputs = self.video_decoder(frame_queries, audio, self.num_frames)
        batch = len(batched_inputs)
        mask_features = mask_features.view(batch, self.num_frames, *mask_features.shape[-3:])

        def as_video_sets(out: dict) -> dict:
            masks = torch.einsum("lbqc,btchw->lbqthw", out["pred_mask_embed"], mask_features)
            return {"pred_logits": out["pred_logits"].flatten(0, 1), "pred_masks": masks.flatten(0, 1)}

        video_sets = as_video_sets(video_outputs)
        video_sets["aux_outputs"] = [as_video_sets(aux) for aux in video_outputs["aux_outputs"]]
        # Each of the L frame-decoder rounds gives the video module its own window: targets repeat.
        repeated = [target for _ in range(rounds) for target in window_targets]
        video_losses, video_indices = self.video_criterion.losses_and_indices(video_sets, repeated)
        losses.update(video_losses)
        if self.similarity_weight > 0:
            similarity = query_similarity_loss(
                video_outputs["pred_fq_embed"], frame_indices[-rounds:],
                [t["ids"] for t in frame_targets], video_outputs["pred_cq_embed"], video_indices[-1],
            )
            losses["loss_clip_sim"] = similarity * self.similarity_weight
        return losses

    def _window_targets(self, video: dict, padded_size: tuple[int, int]) -> dict:
        """Tracks present in at least one frame of the video, masks zero-padded like the frames."""
        targets = video["targets"]
        masks = torch.as_tensor(targets["masks"]).to(self.device, torch.bool)
        labels = torch.as_tensor(targets["labels"]).to(self.device, torch.int64)
        uid = video.get("uid", video.get("video_id", "?"))
        if masks.dim() != 4 or tuple(masks.shape[1:]) != tuple(video["frames"].shape[:1]) + tuple(video["frames"].shape[-2:]):
            raise ValueError(
                f"Video '{uid}': targets.masks must be [N, T, H, W] = [N, {tuple(video['frames'].shape[:1]) + tuple(video['frames'].shape[-2:])}], "
                f"got {tuple(masks.shape)}"
            )
        if labels.shape != masks.shape[:1] or bool(((labels < 0) | (labels >= self.num_classes)).any()):
            raise ValueError(f"Video '{uid}': targets.labels must be [N] in 0..{self.num_classes - 1}, got {labels.tolist()}")
        present = masks.flatten(1).any(1)
        return {"labels": labels[present], "masks": pad_to(masks[present], padded_size).float()}

    # ------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def inference(self, video: dict) -> dict:
        """Whole-video inference in chunks of ``TEST_RUN_CHUNK_SIZE`` frames.

        Per-frame work (backbone to frame decoder) runs chunk by chunk; only the frame queries
        and mask features are kept, the latter on the CPU when the video has more than
        ``TEST_MAX_FRAMES_ON_DEVICE`` frames. The video module then sees all frames at once and
        the masks are produced ``TEST_INTERPOLATE_CHUNK_SIZE`` frames at a time.
        """
        self._check_video(video)
        frames = video["frames"]
        num_frames = int(frames.shape[0])
        audio = self._audio_embeddings(video)
        store = self.device if num_frames <= self.max_frames_on_device else torch.device("cpu")
        frame_queries, mask_features = [], []
        for start in range(0, num_frames, self.run_chunk_size):
            chunk = slice(start, start + self.run_chunk_size)
            images = self.preprocess_frames([frames[chunk]])
            _, queries, features = self._frame_level(images, audio[chunk])
            frame_queries.append(queries[-1])  # [t, fQ, C]
            mask_features.append(features.to(store))
        padded_size = tuple(images.shape[-2:])
        image_size = tuple(int(s) for s in frames.shape[-2:])
        output_size = (int(video.get("height", image_size[0])), int(video.get("width", image_size[1])))

        outputs = self.video_decoder(torch.cat(frame_queries)[None], audio, num_frames)
        logits = outputs["pred_logits"][-1, 0].float()  # [cQ, K+1]
        mask_embed = outputs["pred_mask_embed"][-1, 0]  # [cQ, C]
        mask_features = torch.cat(mask_features)  # [T, C, h, w]

        scores = logits.softmax(-1)[:, :-1]  # [cQ, K]
        num_pairs = min(self.top_k, scores.numel())
        scores, flat_index = scores.flatten().topk(num_pairs, sorted=False)
        labels = flat_index % self.num_classes
        mask_embed = mask_embed[torch.div(flat_index, self.num_classes, rounding_mode="floor")]

        masks, soft_sum, hard_count = [], torch.zeros_like(scores), torch.zeros_like(scores)
        for start in range(0, num_frames, self.interpolate_chunk_size):
            chunk_features = mask_features[start : start + self.interpolate_chunk_size].to(self.device)
            logits_chunk = torch.einsum("qc,tchw->qthw", mask_embed, chunk_features)
            logits_chunk = F.interpolate(logits_chunk, size=padded_size, mode="bilinear", align_corners=False)
            logits_chunk = logits_chunk[..., : image_size[0], : image_size[1]]
            probs = logits_chunk.sigmoid()
            hard = probs > 0.5
            soft_sum += (probs * hard).flatten(1).sum(1)
            hard_count += hard.flatten(1).sum(1)
            resized = F.interpolate(logits_chunk, size=output_size, mode="bilinear", align_corners=False) > 0.0
            masks.append(resized.to(store))
        # Class score times the mean foreground probability inside the predicted mask.
        scores = scores * (soft_sum / (hard_count + 1e-6))
        keep = torch.nonzero(scores > self.score_threshold).squeeze(-1)
        pred_masks = torch.cat(masks, dim=1)[keep.to(store)]
        # The output structure of every model (docs/architecture.md, "Model outputs").
        return {
            "segments": {"scores": scores[keep].cpu(), "labels": labels[keep].cpu(), "masks": pred_masks.cpu()}
        }
