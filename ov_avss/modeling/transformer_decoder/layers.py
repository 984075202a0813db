"""Attention and feed-forward blocks of the masked transformer decoder.

Parameter names follow Mask2Former (``self_attn``, ``multihead_attn``, ``linear1``, ``norm``...)
so that its COCO checkpoints map onto these modules one to one. All sequences are laid out
sequence-first, ``[L, B, C]``, as ``nn.MultiheadAttention`` expects with ``batch_first=False``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _with_pos(tensor: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    return tensor if pos is None else tensor + pos


def _xavier_init_matrices(module: nn.Module) -> None:
    for parameter in module.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)


class SelfAttentionLayer(nn.Module):
    """Multi-head self-attention with residual and LayerNorm (post-norm unless ``normalize_before``)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before
        _xavier_init_matrices(self)

    def forward(
        self,
        tgt: torch.Tensor,
        attn_mask: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """``tgt [L, B, C]`` -> ``[L, B, C]``; ``query_pos`` is added to queries and keys."""
        if self.normalize_before:
            normed = self.norm(tgt)
            q = k = _with_pos(normed, query_pos)
            attended = self.self_attn(q, k, value=normed, attn_mask=attn_mask, need_weights=False)[0]
            return tgt + self.dropout(attended)
        q = k = _with_pos(tgt, query_pos)
        attended = self.self_attn(q, k, value=tgt, attn_mask=attn_mask, need_weights=False)[0]
        return self.norm(tgt + self.dropout(attended))


class CrossAttentionLayer(nn.Module):
    """Multi-head cross-attention from ``tgt`` to ``memory`` with residual and LayerNorm."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, normalize_before: bool = False) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before
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
        query = self.norm(tgt) if self.normalize_before else tgt
        attended = self.multihead_attn(
            query=_with_pos(query, query_pos),
            key=_with_pos(memory, pos),
            value=memory,
            attn_mask=memory_mask,
            need_weights=False,
        )[0]
        if self.normalize_before:
            return tgt + self.dropout(attended)
        return self.norm(tgt + self.dropout(attended))


class FFNLayer(nn.Module):
    """Two-layer ReLU feed-forward block with residual and LayerNorm."""

    def __init__(
        self, d_model: int, dim_feedforward: int = 2048, dropout: float = 0.0, normalize_before: bool = False
    ) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.normalize_before = normalize_before
        _xavier_init_matrices(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """``tgt [L, B, C]`` -> ``[L, B, C]``."""
        source = self.norm(tgt) if self.normalize_before else tgt
        transformed = self.linear2(self.dropout(F.relu(self.linear1(source))))
        if self.normalize_before:
            return tgt + self.dropout(transformed)
        return self.norm(tgt + self.dropout(transformed))


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
