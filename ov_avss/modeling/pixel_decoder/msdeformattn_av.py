"""``MSDeformAttnPixelDecoderAV``: Mask2Former's deformable-attention pixel decoder with the
OV-AVSS audio-visual bi-directional attention block before the encoder layers."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from fvcore.nn.weight_init import c2_xavier_fill
from torch import nn

from ov_avss.modeling.backbone import ShapeSpec
from ov_avss.ops import MSDeformAttn

from .av_bi_attention import AudioVisualBiAttention
from .build import PIXEL_DECODER_REGISTRY
from .deformable_encoder_layer import DeformableEncoderLayer, encoder_reference_points
from .position_encoding import PositionEmbeddingSine

__all__ = ["MSDeformAttnPixelDecoderAV"]

# Groups of every GroupNorm in the decoder (Mask2Former).
_GN_GROUPS = 32
# Feature levels handed to the transformer decoder (Mask2Former always uses 3).
_NUM_DECODER_LEVELS = 3


def _conv_norm(in_channels: int, out_channels: int, kernel_size: int, norm: str, relu: bool) -> nn.Sequential:
    """Conv (+ GroupNorm when ``norm == "GN"``) (+ ReLU); the conv has a bias only without norm."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=norm == "")
    ]
    if norm == "GN":
        layers.append(nn.GroupNorm(_GN_GROUPS, out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    c2_xavier_fill(layers[0])
    return nn.Sequential(*layers)


@PIXEL_DECODER_REGISTRY.register()
class MSDeformAttnPixelDecoderAV(nn.Module):
    """Multi-scale deformable pixel decoder with audio-visual fusion.

    res3..res5 are projected to ``CONVS_DIM`` (1x1 conv + GN), flattened into one token
    sequence with sine + level position embeddings, fused with the per-frame audio token
    (bi-directional attention), refined by ``TRANSFORMER_ENC_LAYERS`` deformable encoder
    layers, and extended to res2 by an FPN level; a 1x1 conv gives the mask features. Runs in
    fp32 even under autocast (deformable sampling is not half-precision safe).

    Attributes:
        convs_dim: channels of the multi-scale features.
        mask_dim: channels of the mask features.
        audio_dim: channels of the audio embeddings and of the returned audio tokens.
        num_feature_levels: number of multi-scale features returned (3).
    """

    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        audio_dim: int,
        transformer_in_features: list[str],
        conv_dim: int,
        mask_dim: int,
        norm: str,
        common_stride: int,
        transformer_enc_layers: int,
        transformer_dim_feedforward: int,
        transformer_nheads: int,
        transformer_n_points: int,
        transformer_dropout: float,
        msda_impl: str,
        av_fusion_enabled: bool,
        av_fusion_embed_dim: int,
        av_fusion_nheads: int,
        av_fusion_dropout: float,
        av_fusion_layer_scale_init: float,
    ):
        """
        Args:
            input_shape: ``{name: ShapeSpec}`` of the backbone features the decoder reads.
            audio_dim: width of the per-frame audio embeddings (the audio encoder's).
            transformer_in_features: the names (at least 3) refined by the deformable encoder.
            conv_dim: width of the multi-scale features and of the encoder.
            mask_dim: width of the mask features.
            norm: "GN" or "" (no norm) for the FPN convs.
            common_stride: stride of the mask features.
            transformer_enc_layers, transformer_dim_feedforward, transformer_nheads,
            transformer_n_points, transformer_dropout: the deformable encoder layers.
            msda_impl: multi-scale deformable attention implementation ("auto", "cuda", "pytorch").
            av_fusion_enabled: build the audio-visual bi-directional attention block.
            av_fusion_embed_dim, av_fusion_nheads, av_fusion_dropout, av_fusion_layer_scale_init:
                that block's attention width, heads, dropout and initial layer scale.
        """
        super().__init__()
        outside = [name for name in transformer_in_features if name not in input_shape]
        if outside:
            raise ValueError(
                "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES must be a subset of "
                f"MODEL.SEM_SEG_HEAD.IN_FEATURES; {outside} is not"
            )
        if norm not in ("GN", ""):
            raise ValueError(f"MODEL.SEM_SEG_HEAD.NORM must be 'GN' or '', got '{norm}'")
        if conv_dim % _GN_GROUPS != 0:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.CONVS_DIM must be a multiple of {_GN_GROUPS} (GroupNorm groups), got {conv_dim}"
            )

        by_stride = sorted(input_shape.items(), key=lambda item: item[1].stride)
        # All pixel-decoder inputs, fine to coarse (res2 .. res5).
        self.in_features = [name for name, _ in by_stride]
        # Encoder inputs, coarse to fine (res5 .. res3): the order of tokens and of input_proj.
        self.transformer_in_features = [
            name for name, _ in reversed(by_stride) if name in transformer_in_features
        ]
        num_levels = len(self.transformer_in_features)
        if num_levels < _NUM_DECODER_LEVELS:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES needs at least "
                f"{_NUM_DECODER_LEVELS} levels for the transformer decoder, got {self.transformer_in_features}"
            )
        finest_encoder_stride = input_shape[self.transformer_in_features[-1]].stride
        fpn_levels = math.log2(finest_encoder_stride / common_stride)
        if fpn_levels < 0 or fpn_levels != int(fpn_levels):
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.COMMON_STRIDE {common_stride} must be the finest encoder "
                f"stride {finest_encoder_stride} divided by a power of two"
            )
        self.num_fpn_levels = int(fpn_levels)

        self.convs_dim = conv_dim
        self.mask_dim = mask_dim
        self.audio_dim = audio_dim
        self.num_feature_levels = _NUM_DECODER_LEVELS
        self.common_stride = common_stride

        self.input_proj = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(input_shape[name].channels, conv_dim, kernel_size=1),
                nn.GroupNorm(_GN_GROUPS, conv_dim),
            )
            for name in self.transformer_in_features
        )
        self.position_embedding = PositionEmbeddingSine(conv_dim // 2)
        self.level_embed = nn.Parameter(torch.empty(num_levels, conv_dim))
        # As in the published model, the fusion reads the raw audio embedding (VGGish: 128-d);
        # the transformer decoder projects the (visually-aware) audio token to its own width.
        self.av_fusion = (
            AudioVisualBiAttention(
                visual_dim=conv_dim,
                audio_dim=audio_dim,
                embed_dim=av_fusion_embed_dim,
                num_heads=av_fusion_nheads,
                dropout=av_fusion_dropout,
                layer_scale_init=av_fusion_layer_scale_init,
            )
            if av_fusion_enabled
            else None
        )
        self.encoder_layers = nn.ModuleList(
            DeformableEncoderLayer(
                d_model=conv_dim,
                dim_feedforward=transformer_dim_feedforward,
                dropout=transformer_dropout,
                num_levels=num_levels,
                num_heads=transformer_nheads,
                num_points=transformer_n_points,
                msda_impl=msda_impl,
            )
            for _ in range(transformer_enc_layers)
        )
        # lateral_convs[i] / output_convs[i] serve in_features[i] (i = 0 is res2).
        fpn_inputs = self.in_features[: self.num_fpn_levels]
        self.lateral_convs = nn.ModuleList(
            _conv_norm(input_shape[name].channels, conv_dim, 1, norm, relu=False) for name in fpn_inputs
        )
        self.output_convs = nn.ModuleList(
            _conv_norm(conv_dim, conv_dim, 3, norm, relu=True) for _ in fpn_inputs
        )
        self.mask_features = nn.Conv2d(conv_dim, self.mask_dim, kernel_size=1)
        c2_xavier_fill(self.mask_features)
        self._reset_transformer_parameters()

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec], audio_dim: int) -> "MSDeformAttnPixelDecoderAV":
        """Reads ``MODEL.SEM_SEG_HEAD.*`` and ``MODEL.MASK_FORMER.DROPOUT``; ``input_shape`` is the
        backbone's ``output_shape()``, ``audio_dim`` the audio encoder's embedding size."""
        head = cfg.MODEL.SEM_SEG_HEAD
        missing = [name for name in head.IN_FEATURES if name not in input_shape]
        if missing:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.IN_FEATURES {list(head.IN_FEATURES)}: {missing} not produced by "
                f"the backbone (it produces {sorted(input_shape)})"
            )
        return cls(
            {name: input_shape[name] for name in head.IN_FEATURES},
            audio_dim=audio_dim,
            transformer_in_features=list(head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES),
            conv_dim=head.CONVS_DIM,
            mask_dim=head.MASK_DIM,
            norm=head.NORM,
            common_stride=head.COMMON_STRIDE,
            transformer_enc_layers=head.TRANSFORMER_ENC_LAYERS,
            transformer_dim_feedforward=head.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD,
            transformer_nheads=head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS,
            transformer_n_points=head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS,
            transformer_dropout=cfg.MODEL.MASK_FORMER.DROPOUT,
            msda_impl=head.MSDA_IMPL,
            av_fusion_enabled=head.AV_FUSION_ENABLED,
            av_fusion_embed_dim=head.AV_FUSION_EMBED_DIM,
            av_fusion_nheads=head.AV_FUSION_NHEADS,
            av_fusion_dropout=head.AV_FUSION_DROPOUT,
            av_fusion_layer_scale_init=head.AV_FUSION_LAYER_SCALE_INIT,
        )

    def _reset_transformer_parameters(self) -> None:
        # Deformable DETR's scheme: xavier on every matrix of the transformer, then the
        # attention's own initialisation (offsets on a ring), normal level embeddings.
        for projection in self.input_proj:
            nn.init.xavier_uniform_(projection[0].weight, gain=1)
            nn.init.zeros_(projection[0].bias)
        for parameter in self.encoder_layers.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)
        for module in self.encoder_layers.modules():
            if isinstance(module, MSDeformAttn):
                module.reset_parameters()
        nn.init.normal_(self.level_embed)

    def forward_features(
        self, features: dict[str, torch.Tensor], audio_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Decode backbone features of N = B*T frames with their audio embeddings.

        Args:
            features: ``{name: [N, C_name, H/s, W/s]}`` for every name in ``in_features``.
            audio_embeddings: ``[N, audio_dim]`` audio embedding of each frame's second of audio.

        Returns:
            ``mask_features [N, MASK_DIM, H/4, W/4]``; ``multi_scale_features``: 3 tensors
            ``[N, CONVS_DIM, h, w]`` ordered coarse (res5) to fine (res3); ``audio_tokens
            [N, audio_dim]`` (visually-aware when the fusion is enabled).
        """
        finest, multi_scale_features, audio_tokens = self.decode_levels(features, audio_embeddings)
        return self.frame_mask_features(finest), multi_scale_features, audio_tokens

    def frame_mask_features(self, finest: torch.Tensor) -> torch.Tensor:
        """The ``mask_features`` convolution of the last FPN output, ``[N, CONVS_DIM, H/4, W/4]`` ->
        ``[N, MASK_DIM, H/4, W/4]``, in float32 like the rest of the decoder (autocast off, as
        Mask2Former's ``forward_features``)."""
        with torch.autocast(device_type=finest.device.type, enabled=False):
            return self.mask_features(finest.float())

    def decode_levels(
        self, features: dict[str, torch.Tensor], audio_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """:meth:`forward_features` before its ``mask_features`` convolution.

        Returns:
            ``finest [N, CONVS_DIM, H/4, W/4]``, the last FPN output (the input of the
            ``mask_features`` convolution; AVISM's video masks read it through their own 1x1
            projection), and ``multi_scale_features`` and ``audio_tokens`` as
            :meth:`forward_features`.
        """
        missing = [name for name in self.in_features if name not in features]
        if missing:
            raise KeyError(f"MSDeformAttnPixelDecoderAV: features {missing} missing, got {sorted(features)}")
        batch = features[self.in_features[0]].shape[0]
        if audio_embeddings.dim() != 2 or tuple(audio_embeddings.shape) != (batch, self.audio_dim):
            raise ValueError(
                f"MSDeformAttnPixelDecoderAV: audio_embeddings must be [N={batch}, "
                f"{self.audio_dim}], got {tuple(audio_embeddings.shape)}"
            )
        device_type = audio_embeddings.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return self._decode({name: features[name].float() for name in self.in_features}, audio_embeddings.float())

    def _decode(
        self, features: dict[str, torch.Tensor], audio_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        projected = [proj(features[name]) for proj, name in zip(self.input_proj, self.transformer_in_features)]
        level_sizes = [(level.shape[-2], level.shape[-1]) for level in projected]
        batch, device = projected[0].shape[0], projected[0].device

        visual_tokens = torch.cat([level.flatten(2).transpose(1, 2) for level in projected], dim=1)  # [N, S, C]
        position_embedding = torch.cat(
            [
                self.position_embedding(level).flatten(2).transpose(1, 2) + self.level_embed[index]
                for index, level in enumerate(projected)
            ],
            dim=1,
        )  # [N, S, C]
        spatial_shapes = torch.tensor(level_sizes, dtype=torch.int64, device=device)  # [L, 2]
        level_start_index = torch.cat((spatial_shapes.new_zeros(1), spatial_shapes.prod(1).cumsum(0)[:-1]))
        reference_points = encoder_reference_points(level_sizes, batch, device)

        audio_tokens = audio_embeddings[:, None, :]  # [N, 1, audio_dim]
        if self.av_fusion is not None:
            visual_tokens, audio_tokens = self.av_fusion(visual_tokens, audio_tokens)
        for layer in self.encoder_layers:
            visual_tokens = layer(visual_tokens, position_embedding, reference_points, spatial_shapes, level_start_index)

        level_lengths = [height * width for height, width in level_sizes]
        outputs = [
            tokens.transpose(1, 2).reshape(batch, self.convs_dim, height, width)
            for tokens, (height, width) in zip(visual_tokens.split(level_lengths, dim=1), level_sizes)
        ]  # coarse to fine
        # FPN top-down from the finest encoder level to the finest input (res2).
        for index in reversed(range(self.num_fpn_levels)):
            lateral = self.lateral_convs[index](features[self.in_features[index]])
            upsampled = F.interpolate(outputs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            outputs.append(self.output_convs[index](lateral + upsampled))

        return outputs[-1], outputs[: self.num_feature_levels], audio_tokens[:, 0]

    def forward(
        self, features: dict[str, torch.Tensor], audio_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(features, audio_embeddings)


# The name the original OV-AVSS configs select.
PIXEL_DECODER_REGISTRY.register(MSDeformAttnPixelDecoderAV, name="MSDeformAttnPixelDecoderAVBi")
