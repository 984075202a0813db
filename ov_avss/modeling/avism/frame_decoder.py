"""AVISM's frame-level decoder: Mask2Former's masked-attention decoder whose learnable queries
are first conditioned on the frame's audio, read against each of the 3 feature scales."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from fvcore.nn.weight_init import c2_xavier_fill
from torch import nn

from ..pixel_decoder.position_encoding import PositionEmbeddingSine
from ..transformer_decoder.layers import MLP
from .layer_stacks import cross_attention_stack, ffn_stack, self_attention_stack

__all__ = ["AVISMFrameDecoder"]

# Feature scales read by the decoder (Mask2Former always uses 3).
_NUM_LEVELS = 3


class AVISMFrameDecoder(nn.Module):
    """Per-frame masked-attention decoder with audio-conditioned queries.

    Submodule names are the reference's (``sem_seg_head.predictor.*`` of the AVISM release).
    The frame's audio embedding (``audio_dim``) is projected to ``hidden_dim``; for each scale a
    cross-attention lets the audio token, offset by every query's position embedding, read that
    scale (``av_sf``); the 3 results are concatenated and projected (``av_post_proj``) and added
    to the learnable queries. Then ``dec_layers`` rounds of masked cross-attention (scales in
    turn, coarse to fine), self-attention and FFN, with a prediction after each round.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        hidden_dim: int,
        num_queries: int,
        nheads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        mask_dim: int,
        enforce_input_project: bool,
        audio_dim: int,
        num_frame_query_layers: int,
    ) -> None:
        super().__init__()
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.num_queries = num_queries
        self.num_frame_query_layers = num_frame_query_layers
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2)

        self.av_pre_proj = nn.Linear(audio_dim, hidden_dim)
        self.av_sf = cross_attention_stack(_NUM_LEVELS, hidden_dim, nheads, pre_norm)
        self.av_post_proj = nn.Linear(hidden_dim * _NUM_LEVELS, hidden_dim)

        self.transformer_self_attention_layers = self_attention_stack(dec_layers, hidden_dim, nheads, pre_norm)
        self.transformer_cross_attention_layers = cross_attention_stack(dec_layers, hidden_dim, nheads, pre_norm)
        self.transformer_ffn_layers = ffn_stack(dec_layers, hidden_dim, dim_feedforward, pre_norm)
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(_NUM_LEVELS, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(_NUM_LEVELS):
            if in_channels != hidden_dim or enforce_input_project:
                projection = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
                c2_xavier_fill(projection)
                self.input_proj.append(projection)
            else:
                self.input_proj.append(nn.Sequential())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels: int, audio_dim: int) -> "AVISMFrameDecoder":
        mf = cfg.MODEL.MASK_FORMER
        if mf.DEC_LAYERS < 2:
            raise ValueError(f"MODEL.MASK_FORMER.DEC_LAYERS must be >= 2 (rounds + 1), got {mf.DEC_LAYERS}")
        return cls(
            in_channels=in_channels,
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            hidden_dim=mf.HIDDEN_DIM,
            num_queries=mf.NUM_OBJECT_QUERIES,
            nheads=mf.NHEADS,
            dim_feedforward=mf.DIM_FEEDFORWARD,
            # One prediction on the learnable queries plus one per round (Mask2Former's count).
            dec_layers=mf.DEC_LAYERS - 1,
            pre_norm=mf.PRE_NORM,
            mask_dim=cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
            enforce_input_project=mf.ENFORCE_INPUT_PROJ,
            audio_dim=audio_dim,
            num_frame_query_layers=cfg.MODEL.AVISM.LAST_LAYER_NUM,
        )

    def forward(
        self, features: list[torch.Tensor], mask_features: torch.Tensor, audio: torch.Tensor
    ) -> tuple[dict, torch.Tensor]:
        """Decode N = B*T frames.

        Args:
            features: 3 maps ``[N, C, h_l, w_l]``, coarse to fine.
            mask_features: ``[N, MASK_DIM, H/4, W/4]``.
            audio: ``[N, audio_dim]`` one embedding per frame.

        Returns:
            ``outputs`` (``pred_logits [N, Q, K+1]``, ``pred_masks [N, Q, H/4, W/4]``,
            ``aux_outputs``) and ``frame_queries [L, N, Q, C]``: the normalised queries of the
            last ``L`` rounds (``LAST_LAYER_NUM`` in training, 1 in eval) for the video decoder.
        """
        if len(features) != _NUM_LEVELS:
            raise ValueError(f"AVISMFrameDecoder expects {_NUM_LEVELS} feature maps, got {len(features)}")
        sources, positions, sizes = [], [], []
        for level, feature in enumerate(features):
            sizes.append(feature.shape[-2:])
            positions.append(self.pe_layer(feature).flatten(2).permute(2, 0, 1))  # [hw, N, C]
            projected = self.input_proj[level](feature).flatten(2) + self.level_embed.weight[level][None, :, None]
            sources.append(projected.permute(2, 0, 1))  # [hw, N, C]
        batch = sources[0].shape[1]
        query_embed = self.query_embed.weight.unsqueeze(1).repeat(1, batch, 1)  # [Q, N, C]
        output = self.query_feat.weight.unsqueeze(1).repeat(1, batch, 1)

        audio_token = self.av_pre_proj(audio)[None]  # [1, N, C]
        per_scale = [self.av_sf[level](audio_token, sources[level], query_pos=query_embed) for level in range(_NUM_LEVELS)]
        output = output + self.av_post_proj(torch.cat(per_scale, dim=-1))  # [Q, N, C]

        classes, masks, frame_queries = [], [], []
        logits, mask, attn_mask, _ = self._heads(output, mask_features, sizes[0])
        classes.append(logits)
        masks.append(mask)
        for index in range(self.num_layers):
            level = index % _NUM_LEVELS
            # A query whose mask covers nothing would attend to nothing: let it see everything
            # (without boolean indexing, whose data-dependent shape breaks a compiled graph).
            attn_mask = attn_mask & ~attn_mask.all(dim=-1, keepdim=True)
            output = self.transformer_cross_attention_layers[index](
                output, sources[level], memory_mask=attn_mask, pos=positions[level], query_pos=query_embed
            )
            output = self.transformer_self_attention_layers[index](output, query_pos=query_embed)
            output = self.transformer_ffn_layers[index](output)
            logits, mask, attn_mask, normed = self._heads(output, mask_features, sizes[(index + 1) % _NUM_LEVELS])
            classes.append(logits)
            masks.append(mask)
            frame_queries.append(normed)
        outputs = {
            "pred_logits": classes[-1],
            "pred_masks": masks[-1],
            "aux_outputs": [{"pred_logits": c, "pred_masks": m} for c, m in zip(classes[:-1], masks[:-1])],
        }
        kept = self.num_frame_query_layers if self.training else 1
        return outputs, torch.stack(frame_queries[-kept:])

    def _heads(self, output: torch.Tensor, mask_features: torch.Tensor, target_size) -> tuple:
        normed = self.decoder_norm(output).transpose(0, 1)  # [N, Q, C]
        logits = self.class_embed(normed)
        masks = torch.einsum("nqc,nchw->nqhw", self.mask_embed(normed), mask_features)
        attn_mask = F.interpolate(masks, size=target_size, mode="bilinear", align_corners=False)
        # True = not allowed to attend: outside the query's current mask.
        attn_mask = (attn_mask.sigmoid().flatten(2).unsqueeze(1).repeat(1, self.num_heads, 1, 1).flatten(0, 1) < 0.5)
        return logits, masks, attn_mask.detach(), normed
