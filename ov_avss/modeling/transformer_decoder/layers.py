"""Attention and feed-forward blocks of the masked transformer decoder.

Parameter names follow Mask2Former (``self_attn``, ``multihead_attn``, ``linear1``, ``norm``...)
so that its COCO checkpoints map onto these modules one to one. All sequences are laid out
sequence-first, ``[L, B, C]``, as ``nn.MultiheadAttention`` expects with ``batch_first=False``.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


def _with_pos(tensor: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    return tensor if pos is None else tensor + pos


def _xavier_init_matrices(module: nn.Module) -> None:
    for parameter in module.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)


class _ResidualNormBlock(nn.Module):
    """Residual update with LayerNorm after the sum (post-norm) or on the block's input
    (pre-norm, ``normalize_before``), the choice Mask2Former's decoder layers share."""

    def __init__(self, d_model: int, dropout: float, normalize_before: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before

    def _residual(self, tgt: torch.Tensor, update: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``tgt + dropout(update(source))`` where ``source`` is ``tgt`` normalised (pre-norm) or
        as is (post-norm, the sum is normalised instead); shapes are kept."""
        source = self.norm(tgt) if self.normalize_before else tgt
        updated = tgt + self.dropout(update(source))
        return updated if self.normalize_before else self.norm(updated)


class SelfAttentionLayer(_ResidualNormBlock):
    """Multi-head self-attention with residual and LayerNorm (post-norm unless ``normalize_before``)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__(d_model, dropout, normalize_before)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        _xavier_init_matrices(self)

    def forward(
        self,
        tgt: torch.Tensor,
        attn_mask: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """``tgt [L, B, C]`` -> ``[L, B, C]``; ``query_pos`` is added to queries and keys."""

        def attend(source: torch.Tensor) -> torch.Tensor:
            q = k = _with_pos(source, query_pos)
            return self.self_attn(q, k, value=source, attn_mask=attn_mask, need_weights=False)[0]

        return self._residual(tgt, attend)


class CrossAttentionLayer(_ResidualNormBlock):
    """Multi-head cross-attention from ``tgt`` to ``memory`` with residual and LayerNorm."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__(d_model, dropout, normalize_before)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        _xavier_init_matrices(self)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: Optional[torch.Tensor] = None,
        pos: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """``tgt [Lq, B, C]`` attends to ``memory [Lk, B, C]``; ``memory_mask [B*heads, Lq, Lk]``
        (True = not allowed) -> ``[Lq, B, C]``."""

        def attend(source: torch.Tensor) -> torch.Tensor:
            return self.multihead_attn(
                query=_with_pos(source, query_pos),
                key=_with_pos(memory, pos),
                value=memory,
                attn_mask=memory_mask,
                need_weights=False,
            )[0]

        return self._residual(tgt, attend)


class FFNLayer(_ResidualNormBlock):
    """Two-layer ReLU feed-forward block with residual and LayerNorm."""

    def __init__(
        self, d_model: int, dim_feedforward: int = 2048, dropout: float = 0.0, normalize_before: bool = False
    ) -> None:
        super().__init__(d_model, dropout, normalize_before)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        _xavier_init_matrices(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """``tgt [L, B, C]`` -> ``[L, B, C]``."""
        return self._residual(tgt, lambda source: self.linear2(self.dropout(F.relu(self.linear1(source)))))


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the mask-embedding head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        in_dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        out_dims = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.num_layers = num_layers
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip(in_dims, out_dims))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., input_dim]`` -> ``[..., output_dim]``."""
        for index, layer in enumerate(self.layers):
            features = layer(features)
            if index < self.num_layers - 1:
                features = F.relu(features)
        return features
