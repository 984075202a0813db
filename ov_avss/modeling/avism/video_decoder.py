"""AVISM's video-level module: window attention over the frame queries of the whole video,
fused with the audio by cross-attention, decoded by video queries into per-instance tracks."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from fvcore.nn.weight_init import c2_xavier_fill
from torch import nn

from ..transformer_decoder.layers import MLP
from .layer_stacks import cross_attention_stack, ffn_stack, self_attention_stack

__all__ = ["AVISMVideoDecoder", "window_attention_mask"]


# Eager even under MODEL.COMPILE: a small tensor of the frame counts alone, and inductor fails
# on its modular index arithmetic over a symbolic frame count (docs/benchmarks.md).
@torch.compiler.disable
def window_attention_mask(
    num_frames: int, padded_frames: int, window: int, tokens_per_frame: int, shift: bool
) -> torch.Tensor:
    """Blocked query/key pairs inside each attention window.

    The ``padded_frames`` frames (``num_frames`` real, then padding) are cut into windows of
    ``window`` frames, after rolling the sequence by ``ceil(window / 2)`` frames when ``shift``.
    A key is blocked when it is padding or, in a shifted window, lies on the other side of the
    wrap-around than the query. Padding queries see everything: their outputs are discarded,
    and a fully blocked row would be undefined.

    Returns: bool ``[num_windows, window * tokens_per_frame, window * tokens_per_frame]``, True =
    not allowed to attend.
    """
    slots = torch.arange(padded_frames)
    offset = math.ceil(window / 2) if shift else 0
    padding = ((slots - offset) % padded_frames >= num_frames).view(-1, window)
    wrapped = (slots < offset).view(-1, window)  # slots rolled in from the end of the sequence
    blocked = padding[:, None, :] | (wrapped[:, :, None] != wrapped[:, None, :])  # [Nw, W, W]
    blocked = blocked & ~padding[:, :, None]
    blocked = blocked[:, :, None, :, None].expand(-1, -1, tokens_per_frame, -1, tokens_per_frame)
    return blocked.reshape(blocked.shape[0], window * tokens_per_frame, window * tokens_per_frame)


class AVISMVideoDecoder(nn.Module):
    """Object tokens over time, audio fusion and video queries.

    Submodule names are the reference's (``avism_module.*``; ``vita_module.*`` in its
    COCO-initialised family), except ``mask_projection`` (its ``avism_mask_features`` /
    ``vita_mask_features``). Input: the frame decoder's queries
    ``[L, B*T, fQ, C]`` and the per-frame audio ``[B*T, audio_dim]``.

    1. ``enc_layers`` window self-attention layers (window ``window_size`` frames, all frame
       queries of a window attend to each other); at inference odd layers use windows shifted
       by half a window, so information crosses window borders over a long video.
    2. Audio fusion: each frame's projected audio token, one copy per frame query, attends in
       ``enc_layers`` cross-attention layers (windows as above, shifted on odd layers) to the
       encoded frame queries; the result is added to them.
    3. ``num_queries`` video queries decode the fused tokens of all frames (cross-attention,
       self-attention, FFN; ``dec_layers`` rounds) into class logits and mask embeddings that
       apply to every frame: one query is one track.
    """

    def __init__(
        self,
        *,
        hidden_dim: int,
        num_frame_queries: int,
        num_queries: int,
        nheads: int,
        dim_feedforward: int,
        enc_layers: int,
        dec_layers: int,
        window_size: int,
        pre_norm: bool,
        enforce_input_project: bool,
        num_classes: int,
        num_frames: int,
        conv_dim: int,
        mask_dim: int,
        audio_dim: int,
        similarity_heads: bool,
        aux_loss: bool,
    ) -> None:
        super().__init__()
        if window_size < 1:
            raise ValueError(f"MODEL.AVISM.ENC_WINDOW_SIZE must be >= 1, got {window_size}")
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.enc_layers = enc_layers
        self.window_size = window_size
        self.num_frames = num_frames
        self.num_queries = num_queries
        self.aux_loss = aux_loss
        self.similarity_heads = similarity_heads

        self.av_proj = nn.Linear(audio_dim, hidden_dim)
        self.enc_self_attn = self_attention_stack(enc_layers, hidden_dim, nheads, pre_norm)
        self.enc_ffn = ffn_stack(enc_layers, hidden_dim, dim_feedforward, pre_norm)
        self.enc_av_cross_attn = cross_attention_stack(enc_layers, hidden_dim, nheads, pre_norm)
        self.enc_av_ffn = ffn_stack(enc_layers, hidden_dim, dim_feedforward, pre_norm)
        self.transformer_self_attention_layers = self_attention_stack(dec_layers, hidden_dim, nheads, pre_norm)
        self.transformer_cross_attention_layers = cross_attention_stack(dec_layers, hidden_dim, nheads, pre_norm)
        self.transformer_ffn_layers = ffn_stack(dec_layers, hidden_dim, dim_feedforward, pre_norm)
        # The reference's avism_mask_features (vita_mask_features in its COCO family).
        self.mask_projection = nn.Conv2d(conv_dim, mask_dim, kernel_size=1)
        c2_xavier_fill(self.mask_projection)
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.fq_pos = nn.Embedding(num_frame_queries, hidden_dim)
        self.input_proj_dec = nn.Linear(hidden_dim, hidden_dim) if enforce_input_project else nn.Identity()
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        if similarity_heads:
            # Frame / video query embeddings for the similarity loss (SIM_WEIGHT; similarity_loss.py).
            self.sim_embed_frame = nn.Linear(hidden_dim, hidden_dim)
            self.sim_embed_video = nn.Linear(hidden_dim, hidden_dim)

    @classmethod
    def from_config(cls, cfg, audio_dim: int) -> "AVISMVideoDecoder":
        avism = cfg.MODEL.AVISM
        if avism.DEC_LAYERS < 1:
            raise ValueError(f"MODEL.AVISM.DEC_LAYERS must be >= 1, got {avism.DEC_LAYERS}")
        if avism.HIDDEN_DIM != cfg.MODEL.MASK_FORMER.HIDDEN_DIM:
            raise ValueError(
                f"MODEL.AVISM.HIDDEN_DIM ({avism.HIDDEN_DIM}) must equal MODEL.MASK_FORMER.HIDDEN_DIM "
                f"({cfg.MODEL.MASK_FORMER.HIDDEN_DIM}): the video module reads the frame queries"
            )
        return cls(
            hidden_dim=avism.HIDDEN_DIM,
            num_frame_queries=cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES,
            num_queries=avism.NUM_OBJECT_QUERIES,
            nheads=avism.NHEADS,
            dim_feedforward=avism.DIM_FEEDFORWARD,
            enc_layers=avism.ENC_LAYERS,
            dec_layers=avism.DEC_LAYERS,
            window_size=avism.ENC_WINDOW_SIZE,
            pre_norm=avism.PRE_NORM,
            enforce_input_project=avism.ENFORCE_INPUT_PROJ,
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            num_frames=cfg.INPUT.SAMPLING_FRAME_NUM,
            conv_dim=cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM,
            mask_dim=cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
            audio_dim=audio_dim,
            similarity_heads=avism.SIM_WEIGHT > 0.0,
            aux_loss=avism.DEEP_SUPERVISION,
        )

    def project_mask_features(self, fpn_features: torch.Tensor) -> torch.Tensor:
        """The pixel decoder's last FPN output ``[N, conv_dim, h, w]`` -> the video masks' own
        features ``[N, mask_dim, h, w]``."""
        return self.mask_projection(fpn_features)

    def forward(self, frame_queries: torch.Tensor, audio: torch.Tensor, num_frames: int) -> dict:
        """Decode windows of ``num_frames`` frames.

        Args:
            frame_queries: ``[L, B*T, fQ, C]``.
            audio: ``[B*T, audio_dim]``.
            num_frames: T.

        Returns:
            ``pred_logits [L, B, cQ, K+1]``, ``pred_mask_embed [L, B, cQ, mask_dim]`` of the last
            round, and ``aux_outputs`` (earlier rounds, in training with deep supervision); in
            training with the similarity heads also ``pred_fq_embed [L, B, T, fQ, C]`` (embedded
            encoded frame queries plus their fused audio tokens) and ``pred_cq_embed [L, B, cQ, C]`` (embedded video queries
            of the last round), for ``query_similarity_loss``.
        """
        num_layers, batch_frames, num_fq, channels = frame_queries.shape
        if batch_frames % num_frames != 0:
            raise ValueError(f"AVISMVideoDecoder: {batch_frames} frames are not windows of {num_frames}")
        batch, frames = batch_frames // num_frames, num_frames
        lb = num_layers * batch
        tokens = frame_queries.reshape(lb, frames, num_fq, channels).permute(1, 2, 0, 3)  # [T, fQ, LB, C]
        tokens = self.input_proj_dec(tokens)
        audio_tokens = self.av_proj(audio).view(batch, frames, -1).permute(1, 0, 2)  # [T, B, C]
        audio_tokens = audio_tokens[:, None, None].expand(frames, num_fq, num_layers, batch, channels)
        audio_tokens = audio_tokens.reshape(frames, num_fq, lb, channels)

        window = self.window_size
        padded = math.ceil(frames / window) * window
        tokens = F.pad(tokens, (0, 0, 0, 0, 0, 0, 0, padded - frames))
        audio_tokens = F.pad(audio_tokens, (0, 0, 0, 0, 0, 0, 0, padded - frames))
        masks = {
            shift: window_attention_mask(frames, padded, window, num_fq, shift)
            .to(tokens.device)[None, :, None]
            .expand(lb, -1, self.num_heads, -1, -1)
            .flatten(0, 2)  # [LB*Nw*heads, W*fQ, W*fQ]: batch index lb * Nw + window
            for shift in (False, True)
        }
        for layer in range(self.enc_layers):
            # The reference shifts the frame-query windows at inference only.
            shift = layer % 2 == 1 and not self.training
            windows = self.enc_self_attn[layer](self._to_windows(tokens, shift), attn_mask=masks[shift])
            tokens = self._from_windows(self.enc_ffn[layer](windows), padded, lb, shift)
        for layer in range(self.enc_layers):
            shift = layer % 2 == 1
            fused = self.enc_av_cross_attn[layer](
                self._to_windows(audio_tokens, shift), self._to_windows(tokens, shift), memory_mask=masks[shift]
            )
            audio_tokens = self._from_windows(self.enc_av_ffn[layer](fused), padded, lb, shift)

        fused_tokens = tokens[:frames] + audio_tokens[:frames]  # [T, fQ, LB, C]
        similarity = self.training and self.similarity_heads
        if similarity:
            # The release embeds the frame queries after the audio fusion (frame query + fused audio).
            frame_embed = self.sim_embed_frame(fused_tokens).permute(2, 0, 1, 3)  # [LB, T, fQ, C]
            frame_embed = frame_embed.reshape(num_layers, batch, frames, num_fq, channels)
        source = fused_tokens.flatten(0, 1)  # [T*fQ, LB, C]
        source_pos = self.fq_pos.weight[None, :, None, :].expand(frames, -1, lb, -1).flatten(0, 1)
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, lb, 1)  # [cQ, LB, C]
        output = self.query_feat.weight.unsqueeze(1).repeat(1, lb, 1)
        rounds = []
        for index in range(self.num_layers):
            output = self.transformer_cross_attention_layers[index](output, source, pos=source_pos, query_pos=query_pos)
            output = self.transformer_self_attention_layers[index](output, query_pos=query_pos)
            output = self.transformer_ffn_layers[index](output)
            if (self.training and self.aux_loss) or index == self.num_layers - 1:
                normed = self.decoder_norm(output).transpose(0, 1)  # [LB, cQ, C]
                rounds.append(normed.reshape(num_layers, batch, self.num_queries, channels))
        rounds = torch.stack(rounds)  # [D, L, B, cQ, C]
        logits = self.class_embed(rounds)
        mask_embed = self.mask_embed(rounds)
        outputs = {
            "pred_logits": logits[-1],
            "pred_mask_embed": mask_embed[-1],
            "aux_outputs": [
                {"pred_logits": a, "pred_mask_embed": b} for a, b in zip(logits[:-1], mask_embed[:-1])
            ],
        }
        if similarity:
            outputs["pred_fq_embed"] = frame_embed
            outputs["pred_cq_embed"] = self.sim_embed_video(rounds[-1])
        return outputs

    # ------------------------------------------------------------------------------ windows
    def _to_windows(self, tokens: torch.Tensor, shift: bool) -> torch.Tensor:
        """``[T', fQ, LB, C]`` -> ``[W*fQ, LB*Nw, C]`` (rolled by half a window when ``shift``)."""
        padded, num_fq, lb, channels = tokens.shape
        if shift:
            tokens = torch.roll(tokens, math.ceil(self.window_size / 2), 0)
        tokens = tokens.reshape(padded // self.window_size, self.window_size, num_fq, lb, channels)
        return tokens.permute(1, 2, 3, 0, 4).reshape(self.window_size * num_fq, lb * (padded // self.window_size), channels)

    def _from_windows(self, windows: torch.Tensor, padded: int, lb: int, shift: bool) -> torch.Tensor:
        num_windows = padded // self.window_size
        channels = windows.shape[-1]
        tokens = windows.reshape(self.window_size, -1, lb, num_windows, channels).permute(3, 0, 1, 2, 4)
        tokens = tokens.reshape(padded, -1, lb, channels)
        if shift:
            tokens = torch.roll(tokens, -math.ceil(self.window_size / 2), 0)
        return tokens
