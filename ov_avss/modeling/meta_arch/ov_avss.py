"""OV-AVSS: open-vocabulary audio-visual semantic segmentation (the whole model)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..audio import build_audio_encoder
from ..backbone import Backbone, build_backbone
from ..classifier import OpenVocabularyClassifier
from ..criterion import VideoSetCriterion
from ..pixel_decoder import build_pixel_decoder
from ..transformer_decoder import build_transformer_decoder
from .build import META_ARCH_REGISTRY
from .preprocess import FramePreprocessing, pad_to


@META_ARCH_REGISTRY.register()
class OV_AVSS(FramePreprocessing):
    """Backbone + VGGish + audio-visual pixel decoder + audio-conditioned video mask decoder,
    with class-agnostic mask proposals classified by a frozen CLIP over any vocabulary.

    Input: ``list[VideoInput]`` (see docs/architecture.md): ``frames`` uint8 ``[T, 3, H, W]``,
    ``audio`` ``[T, 1, 96, 64]``, ``vocabulary``, ``frame_valid``, and in training ``targets``.
    Training returns the weighted loss dict; eval returns one output dict per window.
    """

    # Compiled by MODEL.COMPILE (meta_arch/build.py): the parts holding nearly all the compute.
    # Not the audio encoder: VGGish's embedding cache hashes each example's bytes in Python
    # (a graph break per call), and the frozen VGGish is a small share of a step.
    COMPILED_PARTS = ("backbone", "pixel_decoder", "transformer_decoder")

    def __init__(
        self,
        *,
        backbone: Backbone,
        audio_encoder: nn.Module,
        pixel_decoder: nn.Module,
        transformer_decoder: nn.Module,
        criterion: VideoSetCriterion,
        classifier: OpenVocabularyClassifier,
        pixel_mean: list[float],
        pixel_std: list[float],
        size_divisibility: int,
        top_k: int,
        mask_logit_threshold: float,
        score_threshold: float,
        ensemble_loss_weight: float,
        num_candidate_queries: int | None,
    ) -> None:
        """
        Args:
            backbone, audio_encoder, pixel_decoder, transformer_decoder, criterion, classifier:
                the parts (see the class docstring).
            pixel_mean, pixel_std: RGB normalisation (0-255 scale).
            size_divisibility: frames are padded to a multiple of this and of the backbone's.
            top_k: (query, name) pairs kept per window (``TEST.TOP_K``).
            mask_logit_threshold: mask logits above this are foreground.
            score_threshold: kept pairs scoring at or below this are not painted (the name
                probability; under ``OBJECTNESS_RANKING`` objectness times name probability).
            ensemble_loss_weight: weight of the learned head's loss (with the head only).
            num_candidate_queries: queries named under ``OBJECTNESS_RANKING``; None: the
                release's ranking (every query with a region, by CLIP probability alone).
        """
        super().__init__(
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            size_divisibility=max(size_divisibility, backbone.size_divisibility),
        )
        self.backbone = backbone
        self.audio_encoder = audio_encoder
        self.pixel_decoder = pixel_decoder
        self.transformer_decoder = transformer_decoder
        self.criterion = criterion
        self.classifier = classifier
        self.top_k = top_k
        self.mask_logit_threshold = mask_logit_threshold
        self.score_threshold = score_threshold
        self.ensemble_loss_weight = ensemble_loss_weight
        self.num_candidate_queries = num_candidate_queries

    @classmethod
    def from_config(cls, cfg) -> "OV_AVSS":
        mask_former = cfg.MODEL.MASK_FORMER
        # Built in this order (random initialisation draws in sequence).
        backbone = build_backbone(cfg)
        audio_encoder = build_audio_encoder(cfg)
        audio_dim = audio_encoder.embedding_size
        pixel_decoder = build_pixel_decoder(cfg, backbone.output_shape(), audio_dim)
        transformer_decoder = build_transformer_decoder(cfg, cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM, audio_dim)
        criterion = VideoSetCriterion.from_config(cfg)
        classifier = OpenVocabularyClassifier.from_config(cfg, mask_former.HIDDEN_DIM)
        extensions = cfg.MODEL.OV_EXTENSIONS
        return cls(
            backbone=backbone,
            audio_encoder=audio_encoder,
            pixel_decoder=pixel_decoder,
            transformer_decoder=transformer_decoder,
            criterion=criterion,
            classifier=classifier,
            pixel_mean=list(cfg.MODEL.PIXEL_MEAN),
            pixel_std=list(cfg.MODEL.PIXEL_STD),
            size_divisibility=mask_former.SIZE_DIVISIBILITY,
            top_k=mask_former.TEST.TOP_K,
            mask_logit_threshold=mask_former.TEST.MASK_LOGIT_THRESHOLD,
            score_threshold=(
                extensions.OBJECTNESS_RANKING.SCORE_THRESHOLD
                if extensions.OBJECTNESS_RANKING.ENABLED
                else mask_former.TEST.SCORE_THRESHOLD
            ),
            ensemble_loss_weight=extensions.LEARNED_HEAD.LOSS_WEIGHT,
            num_candidate_queries=(
                max(extensions.OBJECTNESS_RANKING.NUM_CANDIDATE_QUERIES, mask_former.TEST.TOP_K)
                if extensions.OBJECTNESS_RANKING.ENABLED
                else None
            ),
        )

    def forward(self, batched_inputs: list[dict]):
        """Training: ``{loss_ce, loss_mask, loss_dice, loss_*_i, [loss_ensemble_ce]}``.
        Eval: per window ``{sem_seg [T, H0, W0], sounding_prob [T, H0, W0], segments}``."""
        if not batched_inputs:
            raise ValueError("OV_AVSS got an empty batch")
        num_frames = self._num_frames(batched_inputs)
        image_sizes = [tuple(int(s) for s in window["frames"].shape[-2:]) for window in batched_inputs]
        frames = [window["frames"] for window in batched_inputs]
        images = self.preprocess_frames(frames, self.padded_size(image_sizes))  # [B*T, 3, Hp, Wp]
        audio = torch.cat([self._field(window, "audio") for window in batched_inputs]).to(self.device, torch.float32)
        features = self.backbone(images)
        audio_embeddings = self.audio_encoder(audio)  # [B*T, 128]
        mask_features, multi_scale_features, audio_tokens = self.pixel_decoder(features, audio_embeddings)
        outputs = self.transformer_decoder(multi_scale_features, mask_features, audio_tokens, num_frames)
        if self.training:
            return self._losses(batched_inputs, outputs, images.shape[-2:])
        return [
            self._inference_window(window, outputs, window_index, image_sizes[window_index], images.shape[-2:])
            for window_index, window in enumerate(batched_inputs)
        ]

    # ------------------------------------------------------------------------------- inputs
    @staticmethod
    def _field(window: dict, key: str):
        if key not in window:
            raise KeyError(f"Window '{window.get('uid', '?')}' lacks the key '{key}' the model needs")
        return window[key]

    def _num_frames(self, batched_inputs: list[dict]) -> int:
        counts = {int(self._field(window, "frames").shape[0]) for window in batched_inputs}
        if len(counts) != 1:
            raise ValueError(f"All windows of a batch must have the same number of frames, got {sorted(counts)}")
        for window in batched_inputs:
            frames, audio = window["frames"], self._field(window, "audio")
            if frames.dim() != 4 or frames.shape[1] != 3:
                raise ValueError(f"Window '{window.get('uid', '?')}': frames must be [T, 3, H, W], got {tuple(frames.shape)}")
            if audio.shape[0] != frames.shape[0]:
                raise ValueError(
                    f"Window '{window.get('uid', '?')}': {frames.shape[0]} frames but {audio.shape[0]} audio examples"
                )
        return counts.pop()

    def _prepare_targets(self, batched_inputs: list[dict], padded_size) -> list[dict]:
        targets = []
        for window in batched_inputs:
            window_targets = self._field(window, "targets")
            masks = window_targets["masks"].to(self.device, torch.bool)  # [N, T, H, W]
            height, width = masks.shape[-2:]
            if (height, width) != tuple(window["frames"].shape[-2:]):
                raise ValueError(
                    f"Window '{window.get('uid', '?')}': target masks are {height}x{width} but frames "
                    f"are {tuple(window['frames'].shape[-2:])}"
                )
            targets.append(
                {
                    "masks": pad_to(masks, padded_size),
                    "labels": window_targets["labels"].to(self.device, torch.int64),
                    "frame_valid": self._field(window, "frame_valid").to(self.device, torch.bool),
                }
            )
        return targets

    def _vocabulary(self, window: dict) -> list[str]:
        return list(self._field(window, "vocabulary"))

    # ------------------------------------------------------------------------------- training
    def _losses(self, batched_inputs: list[dict], outputs: dict, padded_size) -> dict[str, torch.Tensor]:
        targets = self._prepare_targets(batched_inputs, padded_size)
        losses, indices = self.criterion(outputs, targets)
        if self.classifier.ensemble_head is not None:
            losses["loss_ensemble_ce"] = self.ensemble_loss_weight * self.classifier.ensemble_loss(
                outputs["query_embeddings"],
                indices,
                [target["labels"] for target in targets],
                [self._vocabulary(window) for window in batched_inputs],
            )
        return losses

    # ------------------------------------------------------------------------------- inference
    @staticmethod
    def _to_original_size(upsampled: torch.Tensor, image_size, output_size) -> torch.Tensor:
        """``[N, T, Hp, Wp]`` on the padded input grid -> ``[N, T, H0, W0]``: drop the padding,
        resize (bilinear) to the original frame size."""
        cropped = upsampled[..., : image_size[0], : image_size[1]]
        return F.interpolate(cropped, size=output_size, mode="bilinear", align_corners=False)

    @torch.no_grad()
    def _inference_window(self, window: dict, outputs: dict, window_index: int, image_size, padded_size) -> dict:
        """Name the queries of one window, keep the top ``TOP_K`` (query, name) pairs and paint them.

        As the release (``open_vocabulary_inference`` + ``inference_video`` + the test script's
        painting): mask logits are upsampled to the padded input; every query with a region is
        named by CLIP; pairs are ranked by that probability; pairs above ``SCORE_THRESHOLD`` are
        painted in descending score order, a pixel keeping the first mask that covers it.
        ``OBJECTNESS_RANKING`` replaces the ranking (see ``_objectness_ranking``).
        """
        vocabulary = self._vocabulary(window)
        output_size = (int(window.get("height", image_size[0])), int(window.get("width", image_size[1])))
        objectness = outputs["pred_logits"][window_index].float().softmax(-1)[:, 0]  # [Q]
        mask_logits = outputs["pred_masks"][window_index].float()  # [Q, T, h, w]
        query_embeddings = outputs["query_embeddings"][window_index]
        frames = window["frames"].to(self.device, torch.float32)

        if self.num_candidate_queries is None:
            # The release ranks pairs of queries that have a region by the name probability.
            upsampled = F.interpolate(mask_logits, size=padded_size, mode="bilinear", align_corners=False)
            probs, has_region = self.classifier(frames, upsampled.sigmoid(), query_embeddings, vocabulary)
            ranked = has_region.nonzero()[:, 0]
            pair_scores = probs[ranked]
            mask_rows = ranked  # rows of `upsampled` for the ranked queries
        else:
            ranked, pair_scores, upsampled = self._objectness_ranking(
                frames, mask_logits, objectness, query_embeddings, vocabulary, image_size, padded_size
            )
            mask_rows = torch.arange(ranked.numel(), device=ranked.device)
        num_pairs = min(self.top_k, pair_scores.numel())
        scores, flat_index = pair_scores.flatten().topk(num_pairs)  # descending
        labels = flat_index % len(vocabulary)
        position = torch.div(flat_index, len(vocabulary), rounding_mode="floor")
        query_indices = ranked[position]

        if num_pairs == 0:  # no query has a region: nothing is named (the release: empty map)
            masks = torch.zeros(0, mask_logits.shape[1], *output_size, dtype=torch.bool, device=self.device)
            sem_seg = torch.zeros(masks.shape[1:], dtype=torch.int64, device=self.device)
        else:
            masks = self._to_original_size(upsampled[mask_rows[position]], image_size, output_size)
            masks = masks > self.mask_logit_threshold  # [K, T, H0, W0]
            painted = masks & (scores > self.score_threshold)[:, None, None, None]
            # Descending score order, first cover wins = the highest-scoring mask covering a pixel.
            top_cover = painted.to(torch.uint8).argmax(dim=0)  # first True along K
            sem_seg = torch.where(painted.any(dim=0), labels[top_cover] + 1, torch.zeros_like(top_cover))

        sounding = (objectness[:, None, None, None] * mask_logits.sigmoid()).amax(dim=0)  # [T, h, w]
        sounding = F.interpolate(sounding[None], size=padded_size, mode="bilinear", align_corners=False)
        sounding_prob = self._to_original_size(sounding, image_size, output_size)[0]
        return {
            "sem_seg": sem_seg.to(torch.int64),
            "sounding_prob": sounding_prob.clamp(0, 1).to(torch.float32),
            "segments": {
                "scores": scores,
                "labels": labels.to(torch.int64),
                "query_indices": query_indices.to(torch.int64),
                "masks": masks,
            },
        }

    def _objectness_ranking(
        self, frames, mask_logits, objectness, query_embeddings, vocabulary, image_size, padded_size
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Extension ``OBJECTNESS_RANKING``: name only the top queries by objectness, score pairs
        by ``objectness * probability`` (painted above ``OBJECTNESS_RANKING.SCORE_THRESHOLD``); a
        candidate whose mask logits (decoder resolution, over
        the unpadded frame) are nowhere positive scores 0.

        Returns the candidates ``[C]``, pair scores ``[C, K]`` and their upsampled mask logits
        ``[C, T, Hp, Wp]``.
        """
        num_queries, _, mask_h, mask_w = mask_logits.shape
        candidates = objectness.topk(min(num_queries, self.num_candidate_queries)).indices
        upsampled = F.interpolate(mask_logits[candidates], size=padded_size, mode="bilinear", align_corners=False)
        probs, _ = self.classifier(frames, upsampled.sigmoid(), query_embeddings[candidates], vocabulary)
        valid_h = math.ceil(image_size[0] * mask_h / padded_size[0])
        valid_w = math.ceil(image_size[1] * mask_w / padded_size[1])
        present = (mask_logits[candidates, :, :valid_h, :valid_w] > 0).flatten(1).any(dim=1)  # [C]
        return candidates, objectness[candidates, None] * probs * present[:, None], upsampled
