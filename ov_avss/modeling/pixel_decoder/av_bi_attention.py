"""Audio-visual bi-directional attention: visual tokens and audio tokens update each other
through one shared attention matrix (OV-AVSS; the GLIP-style early-fusion block)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AudioVisualBiAttention"]


class AudioVisualBiAttention(nn.Module):
    """Pre-LayerNorm bi-directional multi-head attention with layer-scaled residuals.

    One matrix of logits ``q_visual . k_audio`` per head is computed; a softmax over the audio
    axis weights audio values for every visual token, and a softmax over the visual axis (the
    same logits, transposed) weights visual values for every audio token. Each stream adds its
    update scaled by a learned per-channel gamma. As in the published block, the residual is
    added to the *normalised* stream (``LN(v) + gamma_v * delta_v``), which is what the
    original weights were trained with.

    Args:
        visual_dim: channels of the visual tokens.
        audio_dim: channels of the audio tokens.
        embed_dim: channels of queries, keys and values inside the attention.
        num_heads: attention heads; must divide ``embed_dim``.
        dropout: dropout on the attention probabilities (both directions).
        layer_scale_init: initial value of both gammas (1/6 in OV-AVSS).
    """

    def __init__(
        self,
        visual_dim: int,
        audio_dim: int,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.1,
        layer_scale_init: float = 1.0 / 6.0,
    ):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"AudioVisualBiAttention: embed_dim {embed_dim} (MODEL.SEM_SEG_HEAD.AV_FUSION_EMBED_DIM) "
                f"is not divisible by num_heads {num_heads} (MODEL.SEM_SEG_HEAD.AV_FUSION_NHEADS)"
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout

        self.visual_norm = nn.LayerNorm(visual_dim)
        self.audio_norm = nn.LayerNorm(audio_dim)
        self.visual_query_proj = nn.Linear(visual_dim, embed_dim)
        self.audio_key_proj = nn.Linear(audio_dim, embed_dim)
        self.visual_value_proj = nn.Linear(visual_dim, embed_dim)
        self.audio_value_proj = nn.Linear(audio_dim, embed_dim)
        self.visual_out_proj = nn.Linear(embed_dim, visual_dim)
        self.audio_out_proj = nn.Linear(embed_dim, audio_dim)
        self.visual_gamma = nn.Parameter(torch.full((visual_dim,), float(layer_scale_init)))
        self.audio_gamma = nn.Parameter(torch.full((audio_dim,), float(layer_scale_init)))
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for projection in (
            self.visual_query_proj,
            self.audio_key_proj,
            self.visual_value_proj,
            self.audio_value_proj,
            self.visual_out_proj,
            self.audio_out_proj,
        ):
            nn.init.xavier_uniform_(projection.weight)
            nn.init.zeros_(projection.bias)

    def _split_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[N, L, E]`` -> ``[N, heads, L, E / heads]``."""
        batch, length, _ = tokens.shape
        return tokens.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def _merge_heads(tokens: torch.Tensor) -> torch.Tensor:
        """``[N, heads, L, D]`` -> ``[N, L, heads * D]``."""
        batch, heads, length, head_dim = tokens.shape
        return tokens.transpose(1, 2).reshape(batch, length, heads * head_dim)

    def forward(
        self, visual_tokens: torch.Tensor, audio_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse the two streams.

        Args:
            visual_tokens: ``[N, S, C_v]`` (all feature levels flattened, N = B*T).
            audio_tokens: ``[N, A, C_a]`` (A audio tokens per frame, usually 1).

        Returns:
            ``(visual_tokens [N, S, C_v], audio_tokens [N, A, C_a])``, each updated by the other.
        """
        if visual_tokens.dim() != 3 or audio_tokens.dim() != 3 or visual_tokens.shape[0] != audio_tokens.shape[0]:
            raise ValueError(
                "AudioVisualBiAttention expects visual_tokens [N, S, C_v] and audio_tokens "
                f"[N, A, C_a] with the same N, got {tuple(visual_tokens.shape)} and {tuple(audio_tokens.shape)}"
            )
        visual_tokens = self.visual_norm(visual_tokens)
        audio_tokens = self.audio_norm(audio_tokens)

        queries = self._split_heads(self.visual_query_proj(visual_tokens)) * self.head_dim**-0.5
        keys = self._split_heads(self.audio_key_proj(audio_tokens))
        visual_values = self._split_heads(self.visual_value_proj(visual_tokens))
        audio_values = self._split_heads(self.audio_value_proj(audio_tokens))

        logits = queries @ keys.transpose(-2, -1)  # [N, heads, S, A], shared by both directions
        visual_to_audio = F.dropout(logits.softmax(dim=-1), p=self.dropout, training=self.training)
        audio_to_visual = F.dropout(
            logits.transpose(-2, -1).softmax(dim=-1), p=self.dropout, training=self.training
        )  # [N, heads, A, S]

        visual_update = self.visual_out_proj(self._merge_heads(visual_to_audio @ audio_values))
        audio_update = self.audio_out_proj(self._merge_heads(audio_to_visual @ visual_values))
        return (
            visual_tokens + self.visual_gamma * visual_update,
            audio_tokens + self.audio_gamma * audio_update,
        )
