"""Stacks of identical transformer layers, as the AVISM modules hold them (one ModuleList per
kind of layer, indexed by round)."""
from __future__ import annotations

from torch import nn

from ..transformer_decoder.layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = ["cross_attention_stack", "ffn_stack", "self_attention_stack"]


def self_attention_stack(count: int, dim: int, heads: int, pre_norm: bool) -> nn.ModuleList:
    return nn.ModuleList(SelfAttentionLayer(dim, heads, normalize_before=pre_norm) for _ in range(count))


def cross_attention_stack(count: int, dim: int, heads: int, pre_norm: bool) -> nn.ModuleList:
    return nn.ModuleList(CrossAttentionLayer(dim, heads, normalize_before=pre_norm) for _ in range(count))


def ffn_stack(count: int, dim: int, hidden: int, pre_norm: bool) -> nn.ModuleList:
    return nn.ModuleList(FFNLayer(dim, hidden, normalize_before=pre_norm) for _ in range(count))
