"""Audio-conditioned video masked-attention transformer decoder (OV-AVSS, after Mask2Former)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .build import TRANSFORMER_DECODER_REGISTRY
from .layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from .position_encoding import PositionEmbeddingSine3D

NUM_FEATURE_LEVELS = 3


@TRANSFORMER_DECODER_REGISTRY.register()
class AudioVideoMaskedTransformerDecoder(nn.Module):
    """Video-level object queries refined by masked attention to the pixel decoder's features and
    by attention to the window's audio tokens.

    One query describes one sounding object over all ``T`` frames of a window. ``from_config(cfg,
    in_channels, audio_dim)`` reads ``MODEL.MASK_FORMER.*``; ``in_channels`` is the pixel
    decoder's feature width (``MODEL.SEM_SEG_HEAD.CONVS_DIM``), ``audio_dim`` the audio
    encoder's embedding size.

    Sequence of operations (``L = DEC_LAYERS - 1`` layers):

    1. the learned queries attend once to the (projected) audio tokens;
    2. prediction 0 from the queries (deep supervision on it too);
    3. the audio tokens self-attend once (as the release: after step 1, so that the queries'
       first audio attention reads the tokens before their self-attention);
    4. for layer ``i``: masked cross-attention to the features of scale ``i % 3`` of all frames
       (attention mask = previous prediction < 0.5, fully masked rows unmasked), self-attention,
       cross-attention to the audio tokens, FFN, then prediction ``i + 1``.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        audio_dim: int,
        hidden_dim: int,
        num_queries: int,
        num_heads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        dropout: float,
        enforce_input_proj: bool,
        max_num_frames: int,
        deep_supervision: bool,
        num_classes: int,
        mask_dim: int,
    ) -> None:
        """
        Args:
            in_channels: width of the pixel decoder's multi-scale features.
            audio_dim: width of the per-frame audio tokens (the audio encoder's embedding size).
            hidden_dim: query width ``D``.
            num_queries: ``Q``.
            num_heads: attention heads.
            dim_feedforward: FFN hidden width.
            dec_layers: number of predictions (``DEC_LAYERS``): ``dec_layers - 1`` layers plus
                the prediction from the learned queries.
            pre_norm: LayerNorm before (True) or after each sub-layer.
            dropout: dropout in every attention and FFN layer.
            enforce_input_proj: project the features even when ``in_channels == hidden_dim``.
            max_num_frames: rows of the audio position table (longest window).
            deep_supervision: return the earlier predictions as ``aux_outputs``.
            num_classes: class-head classes besides "no object" (1: sounding object).
            mask_dim: width of the mask embeddings (the pixel decoder's ``mask_dim``).
        """
        super().__init__()
        if dec_layers < 1:
            raise ValueError(f"MODEL.MASK_FORMER.DEC_LAYERS must be >= 1, got {dec_layers}")
        if hidden_dim % 2 != 0:
            raise ValueError(f"MODEL.MASK_FORMER.HIDDEN_DIM must be even (sine encoding), got {hidden_dim}")
        self.num_heads = num_heads
        self.num_layers = dec_layers - 1
        self.num_queries = num_queries
        self.max_num_frames = max_num_frames
        self.deep_supervision = deep_supervision

        self.pe_layer = PositionEmbeddingSine3D(hidden_dim // 2)

        def attention_stack(layer_type) -> nn.ModuleList:
            return nn.ModuleList(
                layer_type(d_model=hidden_dim, nhead=self.num_heads, dropout=dropout, normalize_before=pre_norm)
                for _ in range(self.num_layers)
            )

        self.transformer_self_attention_layers = attention_stack(SelfAttentionLayer)
        self.transformer_cross_attention_layers = attention_stack(CrossAttentionLayer)
        self.transformer_audio_cross_attention_layers = attention_stack(CrossAttentionLayer)
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward, dropout=dropout, normalize_before=pre_norm)
            for _ in range(self.num_layers)
        )
        self.audio_self_attention = SelfAttentionLayer(hidden_dim, self.num_heads, dropout, pre_norm)
        self.audio_query_attention = CrossAttentionLayer(hidden_dim, self.num_heads, dropout, pre_norm)
        self.decoder_norm = nn.LayerNorm(hidden_dim)

        self.query_feat = nn.Embedding(self.num_queries, hidden_dim)
        self.query_embed = nn.Embedding(self.num_queries, hidden_dim)
        self.level_embed = nn.Embedding(NUM_FEATURE_LEVELS, hidden_dim)
        # Learned position of each frame's audio token within the window.
        self.audio_pos_embed = nn.Embedding(self.max_num_frames, hidden_dim)

        self.input_proj = nn.ModuleList()
        for _ in range(NUM_FEATURE_LEVELS):
            if in_channels != hidden_dim or enforce_input_proj:
                projection = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
                nn.init.kaiming_uniform_(projection.weight, a=1)
                nn.init.zeros_(projection.bias)
                self.input_proj.append(projection)
            else:
                self.input_proj.append(nn.Sequential())
        # The per-frame audio token arrives at the audio encoder's width from the pixel decoder.
        self.audio_dim = audio_dim
        self.audio_proj = MLP(audio_dim, hidden_dim, hidden_dim, 2)

        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels: int, audio_dim: int) -> "AudioVideoMaskedTransformerDecoder":
        mf = cfg.MODEL.MASK_FORMER
        return cls(
            in_channels=in_channels,
            audio_dim=audio_dim,
            hidden_dim=mf.HIDDEN_DIM,
            num_queries=mf.NUM_OBJECT_QUERIES,
            num_heads=mf.NHEADS,
            dim_feedforward=mf.DIM_FEEDFORWARD,
            dec_layers=mf.DEC_LAYERS,
            pre_norm=mf.PRE_NORM,
            dropout=mf.DROPOUT,
            enforce_input_proj=mf.ENFORCE_INPUT_PROJ,
            max_num_frames=mf.MAX_NUM_FRAMES,
            deep_supervision=mf.DEEP_SUPERVISION,
            # "sounding object" and "no object": the category comes from CLIP.
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            mask_dim=cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
        )

    def forward(
        self,
        multi_scale_features: list[torch.Tensor],
        mask_features: torch.Tensor,
        audio_tokens: torch.Tensor,
        num_frames: int,
    ) -> dict:
        """Decode one batch of windows.

        Args:
            multi_scale_features: 3 tensors ``[B*T, C_in, h_l, w_l]``, coarse to fine.
            mask_features: ``[B*T, MASK_DIM, H/4, W/4]``.
            audio_tokens: ``[B*T, audio_dim]``, one (visually-aware) audio token per frame.
            num_frames: ``T``.

        Returns:
            ``pred_logits [B, Q, 2]`` (sounding object, no object), ``pred_masks
            [B, Q, T, H/4, W/4]`` (logits), ``query_embeddings [B, Q, D]`` (final, normalised),
            and ``aux_outputs`` (list of ``{pred_logits, pred_masks}`` for the ``L`` earlier
            predictions; empty without deep supervision).
        """
        if len(multi_scale_features) != NUM_FEATURE_LEVELS:
            raise ValueError(
                f"Expected {NUM_FEATURE_LEVELS} feature levels, got {len(multi_scale_features)}"
            )
        if num_frames > self.max_num_frames:
            raise ValueError(
                f"Window has {num_frames} frames but MODEL.MASK_FORMER.MAX_NUM_FRAMES is "
                f"{self.max_num_frames} (size of the audio position table)"
            )
        batch_frames = mask_features.shape[0]
        if batch_frames % num_frames != 0 or audio_tokens.shape[0] != batch_frames:
            raise ValueError(
                f"mask_features has {batch_frames} frames and audio_tokens {audio_tokens.shape[0]}; "
                f"both must be B*T with T={num_frames}"
            )
        batch = batch_frames // num_frames

        keys, key_pos, level_sizes = [], [], []
        for level, features in enumerate(multi_scale_features):
            height, width = features.shape[-2:]
            level_sizes.append((height, width))
            pos = self.pe_layer(features.view(batch, num_frames, -1, height, width))  # [B, T, D, h, w]
            projected = self.input_proj[level](features).flatten(2) + self.level_embed.weight[level][None, :, None]
            projected = projected.view(batch, num_frames, -1, height * width)
            # [B, T, D, hw] -> [T*hw, B, D]: keys ordered frame-major, as the attention mask.
            keys.append(projected.permute(1, 3, 0, 2).flatten(0, 1))
            key_pos.append(pos.flatten(3).permute(1, 3, 0, 2).flatten(0, 1))

        audio = self.audio_proj(audio_tokens).view(batch, num_frames, -1).transpose(0, 1)  # [T, B, D]
        audio_pos = self.audio_pos_embed.weight[:num_frames, None, :].expand(-1, batch, -1)

        query_pos = self.query_embed.weight[:, None, :].expand(-1, batch, -1)  # [Q, B, D]
        queries = self.query_feat.weight[:, None, :].expand(-1, batch, -1)

        queries = self.audio_query_attention(queries, audio, pos=audio_pos, query_pos=query_pos)

        mask_features = mask_features.view(batch, num_frames, *mask_features.shape[1:])
        predictions = []
        prediction = self._predict(queries, mask_features, level_sizes[0])
        predictions.append(prediction)
        audio = self.audio_self_attention(audio, query_pos=audio_pos)
        for layer in range(self.num_layers):
            level = layer % NUM_FEATURE_LEVELS
            attn_mask = prediction["attn_mask"]
            # A query whose mask is empty everywhere would attend to nothing: let it see all.
            attn_mask = attn_mask & ~attn_mask.all(dim=-1, keepdim=True)
            queries = self.transformer_cross_attention_layers[layer](
                queries, keys[level], memory_mask=attn_mask, pos=key_pos[level], query_pos=query_pos
            )
            queries = self.transformer_self_attention_layers[layer](queries, query_pos=query_pos)
            queries = self.transformer_audio_cross_attention_layers[layer](
                queries, audio, pos=audio_pos, query_pos=query_pos
            )
            queries = self.transformer_ffn_layers[layer](queries)
            next_level = (layer + 1) % NUM_FEATURE_LEVELS
            prediction = self._predict(queries, mask_features, level_sizes[next_level])
            predictions.append(prediction)

        final = predictions[-1]
        aux = predictions[:-1] if self.deep_supervision else []
        return {
            "pred_logits": final["pred_logits"],
            "pred_masks": final["pred_masks"],
            "query_embeddings": final["query_embeddings"],
            "aux_outputs": [{"pred_logits": p["pred_logits"], "pred_masks": p["pred_masks"]} for p in aux],
        }

    def _predict(self, queries: torch.Tensor, mask_features: torch.Tensor, attn_size: tuple[int, int]) -> dict:
        """Heads on ``queries [Q, B, D]`` with ``mask_features [B, T, E, H, W]``.

        Returns class logits ``[B, Q, 2]``, mask logits ``[B, Q, T, H, W]``, the normalised
        query embeddings ``[B, Q, D]`` and the boolean attention mask ``[B*heads, Q, T*h*w]``
        (True = masked) for the next cross-attention at size ``attn_size = (h, w)``.
        """
        query_embeddings = self.decoder_norm(queries).transpose(0, 1)  # [B, Q, D]
        class_logits = self.class_embed(query_embeddings)
        mask_embeddings = self.mask_embed(query_embeddings)
        mask_logits = torch.einsum("bqc,btchw->bqthw", mask_embeddings, mask_features)
        batch, num_queries, num_frames = mask_logits.shape[:3]
        # No gradient through the attention mask, as in Mask2Former.
        with torch.no_grad():
            resized = F.interpolate(
                mask_logits.detach().flatten(0, 1), size=attn_size, mode="bilinear", align_corners=False
            )  # [B*Q, T, h, w]
            attn_mask = resized.sigmoid().view(batch, num_queries, -1) < 0.5
            attn_mask = attn_mask[:, None].expand(-1, self.num_heads, -1, -1).flatten(0, 1)
        return {
            "pred_logits": class_logits,
            "pred_masks": mask_logits,
            "query_embeddings": query_embeddings,
            "attn_mask": attn_mask,
        }


# The name the original OV-AVSS configs select.
TRANSFORMER_DECODER_REGISTRY.register(
    AudioVideoMaskedTransformerDecoder, name="AudioVideoMultiScaleMaskedTransformerDecoder"
)
