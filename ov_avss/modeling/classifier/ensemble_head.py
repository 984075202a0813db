"""Learned classification of queries in CLIP's text space, and its ensemble with CLIP."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Initial temperature as CLIP's (1 / 0.07); the learned scale is capped at CLIP's 100.
INITIAL_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = 100.0


class TextSpaceQueryHead(nn.Module):
    """Projects query embeddings into CLIP's text space and scores them against names.

    ``logits = exp(s) * cos(W q + b, text_embedding)``, with ``s`` learned.
    """

    def __init__(self, query_dim: int, text_dim: int) -> None:
        super().__init__()
        self.projection = nn.Linear(query_dim, text_dim)
        self.logit_scale = nn.Parameter(torch.tensor(INITIAL_LOGIT_SCALE))

    def forward(self, query_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """``query_embeddings [..., D]``, ``text_embeddings [K, E]`` (normalised) -> logits ``[..., K]``."""
        projected = F.normalize(self.projection(query_embeddings), dim=-1)
        scale = self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        return scale * projected @ text_embeddings.to(projected.dtype).T


def geometric_ensemble(
    learned_probs: torch.Tensor,
    clip_model_probs: torch.Tensor,
    seen: torch.Tensor,
    seen_clip_weight: float,
    novel_clip_weight: float,
    name_unseen: bool = True,
) -> torch.Tensor:
    """Combine the learned head and CLIP per category, renormalised over the vocabulary.

    ``p_k ∝ p_learned_k^(1 - w_k) * p_CLIP_k^(w_k)``, ``w_k = seen_clip_weight`` for names seen in
    training and ``novel_clip_weight`` for the others (the learned head is only trusted where it
    was trained).

    Args:
        learned_probs, clip_model_probs: ``[Q, K]`` probabilities over the vocabulary.
        seen: bool ``[K]``.
        name_unseen: False gives the names not ``seen`` probability 0 (the ensemble renormalised
            over the seen names).

    Returns:
        ``[Q, K]`` probabilities (rows sum to 1 unless both inputs are 0 there).
    """
    clip_model_weight = torch.where(
        seen, torch.tensor(seen_clip_weight, device=seen.device), torch.tensor(novel_clip_weight, device=seen.device)
    )
    combined = learned_probs.pow(1 - clip_model_weight) * clip_model_probs.pow(clip_model_weight)
    if not name_unseen:
        combined = combined * seen
    return combined / combined.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(combined.dtype).tiny)
