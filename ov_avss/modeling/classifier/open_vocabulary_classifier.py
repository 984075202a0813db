"""Category probabilities for mask proposals over any vocabulary (CLIP, optionally ensembled)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .clip_loader import build_clip_model
from .ensemble_head import TextSpaceQueryHead, geometric_ensemble
from .region_classifier import ClipRegionClassifier
from .templates import get_prompt_templates


def _seen_names(cfg) -> tuple[str, ...]:
    """The names the learned head was trained on: ``LEARNED_HEAD.SEEN_CATEGORIES``, which the
    builder fills from the training datasets (``ov_avss.data.catalog.with_seen_categories``)."""
    seen = tuple(cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD.SEEN_CATEGORIES)
    if not seen:
        raise ValueError(
            "MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED needs SEEN_CATEGORIES, the names the head was trained on; "
            "the trainer and the demo fill it from DATASETS.TRAIN (ov_avss.data.catalog.with_seen_categories), "
            "a model built otherwise needs it set"
        )
    return seen


class OpenVocabularyClassifier(nn.Module):
    """Frozen CLIP region classifier plus, with ``MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED``
    (an extension of the release), a learned text-space head.

    Without the head (the release), category probabilities are CLIP's alone and the module has
    no trainable parameters.
    """

    def __init__(
        self,
        region_classifier: ClipRegionClassifier,
        ensemble_head: TextSpaceQueryHead | None,
        seen_categories: tuple[str, ...],
        seen_clip_weight: float,
        novel_clip_weight: float,
        name_unseen: bool = True,
    ) -> None:
        """
        Args:
            region_classifier: frozen CLIP scoring mask regions against names.
            ensemble_head: the learned head, or None (the release).
            seen_categories: names the head was trained on (``LEARNED_HEAD.SEEN_CATEGORIES``).
            seen_clip_weight, novel_clip_weight: CLIP's weight in the ensemble for seen / other names.
            name_unseen: with the head, whether names outside ``seen_categories`` may be chosen;
                False gives them probability 0 (the ensemble renormalised over the seen names).
        """
        super().__init__()
        self.region_classifier = region_classifier
        self.ensemble_head = ensemble_head
        self.seen_categories = frozenset(seen_categories)
        self.seen_clip_weight = seen_clip_weight
        self.novel_clip_weight = novel_clip_weight
        self.name_unseen = name_unseen

    @classmethod
    def from_config(cls, cfg, query_dim: int) -> "OpenVocabularyClassifier":
        adapter = cfg.MODEL.CLIP_ADAPTER
        learned = cfg.MODEL.OV_EXTENSIONS.LEARNED_HEAD
        for key in ("CLIP_WEIGHT_SEEN", "CLIP_WEIGHT_NOVEL"):
            if not 0.0 <= learned[key] <= 1.0:
                raise ValueError(f"MODEL.OV_EXTENSIONS.LEARNED_HEAD.{key} must be in [0, 1], got {learned[key]}")
        clip_model, arch = build_clip_model(cfg)
        templates = get_prompt_templates(adapter.PROMPT_NAME, adapter.PREDEFINED_PROMPT_TEMPLATES)
        region_classifier = ClipRegionClassifier(
            clip_model, arch, templates, split_name_words=cfg.MODEL.OV_EXTENSIONS.SPLIT_NAME_WORDS
        )
        head = TextSpaceQueryHead(query_dim, region_classifier.embed_dim) if learned.ENABLED else None
        seen = _seen_names(cfg) if learned.ENABLED else ()
        return cls(
            region_classifier, head, seen, learned.CLIP_WEIGHT_SEEN, learned.CLIP_WEIGHT_NOVEL, learned.NAME_UNSEEN
        )

    def text_embeddings(self, vocabulary: list[str]) -> torch.Tensor:
        return self.region_classifier.text_embeddings(vocabulary)

    def ensemble_loss(
        self,
        query_embeddings: torch.Tensor,
        matched: list[tuple[torch.Tensor, torch.Tensor]],
        target_labels: list[torch.Tensor],
        vocabularies: list[list[str]],
    ) -> torch.Tensor:
        """Cross-entropy of the learned head on matched queries over each window's (training)
        vocabulary, averaged over matched pairs of the batch.

        Args:
            query_embeddings: ``[B, Q, D]``.
            matched: per window ``(query_indices, target_indices)``.
            target_labels: per window int64 ``[N]``, 0-based into that window's vocabulary.
            vocabularies: per window list of names.
        """
        if self.ensemble_head is None:
            raise RuntimeError("ensemble_loss needs MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED True")
        device = query_embeddings.device
        total = query_embeddings.new_zeros(())
        count = 0
        for window_index, ((query_idx, target_idx), labels, vocabulary) in enumerate(
            zip(matched, target_labels, vocabularies)
        ):
            # Per window: each window may carry its own vocabulary.
            logits = self.ensemble_head(
                query_embeddings[window_index, query_idx.to(device)], self.text_embeddings(vocabulary)
            )
            total = total + F.cross_entropy(logits, labels.to(device)[target_idx.to(device)], reduction="sum")
            count += int(query_idx.numel())
        # Keep the head in the graph on windows without objects (identical backward on all ranks).
        head_anchor = sum(parameter.sum() for parameter in self.ensemble_head.parameters()) * 0.0
        return total / max(count, 1) + head_anchor

    @torch.no_grad()
    def forward(
        self,
        frames: torch.Tensor,
        mask_probs: torch.Tensor,
        query_embeddings: torch.Tensor,
        vocabulary: list[str],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Category probabilities of queries of one window.

        Args:
            frames: float ``[T, 3, H, W]`` RGB 0-255, the unpadded input frames.
            mask_probs: ``[C, T, Hm, Wm]`` mask probabilities on the padded input grid.
            query_embeddings: ``[C, D]``.
            vocabulary: ``K`` names.

        Returns:
            ``probs [C, K]`` and ``has_region`` bool ``[C]`` (False: the mask is empty in every
            frame, CLIP saw nothing; without the learned head ``probs`` is 0 there).
        """
        text = self.text_embeddings(vocabulary)
        clip_model_probs, has_region = self.region_classifier(frames, mask_probs, text)
        if self.ensemble_head is None:
            return clip_model_probs, has_region
        learned_probs = self.ensemble_head(query_embeddings, text).float().softmax(dim=-1)
        seen = torch.tensor([name in self.seen_categories for name in vocabulary], device=clip_model_probs.device)
        probs = geometric_ensemble(
            learned_probs, clip_model_probs, seen, self.seen_clip_weight, self.novel_clip_weight, self.name_unseen
        )
        return probs, has_region
