"""Swin Transformer backbone (Swin-T/S/B/L) built from torchvision's Swin blocks, laid out
like Mask2Former's ``D2SwinTransformer``: four stages, a LayerNorm on each returned stage.

Module names: ``patch_embed.{proj,norm}``, ``absolute_pos_embed`` (APE only),
``stages.N.M.{norm1,attn.{qkv,proj,relative_position_bias_table},norm2,mlp.{0,3}}``,
``downsamples.N.{reduction,norm}``, ``output_norms.res{2..5}``. The external name map renames
Mask2Former's ``layers.N.blocks.M`` / ``layers.N.downsample`` / ``norm{i}`` weights onto these.

Known difference from Mask2Former's implementation: torchvision skips the cyclic shift on a
dimension where the (padded) feature map fits in one window, where Mask2Former shifts and masks.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.swin_transformer import (
    PatchMerging,
    ShiftedWindowAttention,
    SwinTransformerBlock,
)

from .backbone import Backbone, freeze_modules
from .build import BACKBONE_REGISTRY

__all__ = ["SwinBackbone"]

_STAGE_NAMES = ("res2", "res3", "res4", "res5")


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` x ``patch_size`` patches -> ``embed_dim`` tokens.

    ``forward(images [N, 3, H, W]) -> [N, ceil(H/p), ceil(W/p), C]`` (channels last); the input
    is zero-padded on the bottom/right to a multiple of the patch size.
    """

    def __init__(self, patch_size: int, embed_dim: int, patch_norm: bool):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        pad_bottom = (-height) % self.patch_size
        pad_right = (-width) % self.patch_size
        images = F.pad(images, (0, pad_right, 0, pad_bottom))
        tokens = self.proj(images).permute(0, 2, 3, 1)
        return self.norm(tokens)


@BACKBONE_REGISTRY.register()
class SwinBackbone(Backbone):
    """Swin Transformer returning ``{"res2": stride 4p/4, ..., "res5"}`` features, each passed
    through its own LayerNorm (Mask2Former's ``norm{i}``).

    Args:
        pretrain_img_size: image size of the pretraining; sizes the absolute position table.
        patch_size: patch side (4), the stride of res2.
        embed_dim: channels of res2 (96 T/S, 128 B, 192 L); doubled at each stage.
        depths: blocks per stage, e.g. ``[2, 2, 18, 2]``.
        num_heads: heads per stage, e.g. ``[4, 8, 16, 32]``.
        window_size: attention window side (7 for 224 pretraining, 12 for 384).
        mlp_ratio: MLP hidden width / dim.
        qkv_bias: bias on the qkv projection.
        drop_rate: dropout after attention and MLP projections and after the patch embedding.
        attn_drop_rate: dropout on attention probabilities.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        ape: add an absolute position embedding (interpolated to the patch grid).
        patch_norm: LayerNorm after the patch embedding.
        out_features: subset of ``res2..res5``; stages after the last one are not built.
        freeze_at: 0 trains everything; 1 freezes the patch embedding; k >= 2 also freezes
            stages res2..res{k} with their patch merging.
    """

    def __init__(
        self,
        *,
        pretrain_img_size: int = 224,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: list[int] = (2, 2, 6, 2),
        num_heads: list[int] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        ape: bool = False,
        patch_norm: bool = True,
        out_features: list[str] = _STAGE_NAMES,
        freeze_at: int = 0,
    ):
        super().__init__()
        if len(depths) != len(_STAGE_NAMES) or len(num_heads) != len(_STAGE_NAMES):
            raise ValueError(
                f"MODEL.SWIN.DEPTHS and MODEL.SWIN.NUM_HEADS need {len(_STAGE_NAMES)} entries, "
                f"got {list(depths)} and {list(num_heads)}"
            )
        unknown = [name for name in out_features if name not in _STAGE_NAMES]
        if unknown or not out_features:
            raise ValueError(
                f"MODEL.SWIN.OUT_FEATURES must be a non-empty subset of {list(_STAGE_NAMES)}, "
                f"got {list(out_features)}"
            )
        for stage_index, heads in enumerate(num_heads):
            if (embed_dim * 2**stage_index) % heads != 0:
                raise ValueError(
                    f"MODEL.SWIN.EMBED_DIM {embed_dim} x {2**stage_index} (stage {stage_index}) is "
                    f"not divisible by MODEL.SWIN.NUM_HEADS[{stage_index}] = {heads}"
                )
        if not 0 <= freeze_at <= 5:
            raise ValueError(f"MODEL.BACKBONE.FREEZE_AT must be in 0..5, got {freeze_at}")
        num_stages = max(_STAGE_NAMES.index(name) for name in out_features) + 1
        self.patch_size = patch_size
        self.num_stages = num_stages

        self.patch_embed = PatchEmbed(patch_size, embed_dim, patch_norm)
        if ape:
            grid = pretrain_img_size // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, grid, grid))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        else:
            self.absolute_pos_embed = None
        self.pos_drop = nn.Dropout(drop_rate)

        drop_path_per_block = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        attention_layer = functools.partial(ShiftedWindowAttention, qkv_bias=qkv_bias)
        self.stages = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        block_index = 0
        for stage_index in range(num_stages):
            dim = embed_dim * 2**stage_index
            blocks = []
            for depth_index in range(depths[stage_index]):
                # Odd blocks use shifted windows (Swin's W-MSA / SW-MSA alternation).
                shift = 0 if depth_index % 2 == 0 else window_size // 2
                blocks.append(
                    SwinTransformerBlock(
                        dim,
                        num_heads[stage_index],
                        window_size=[window_size, window_size],
                        shift_size=[shift, shift],
                        mlp_ratio=mlp_ratio,
                        dropout=drop_rate,
                        attention_dropout=attn_drop_rate,
                        stochastic_depth_prob=drop_path_per_block[block_index],
                        norm_layer=nn.LayerNorm,
                        attn_layer=attention_layer,
                    )
                )
                block_index += 1
            self.stages.append(nn.Sequential(*blocks))
            if stage_index < num_stages - 1:
                self.downsamples.append(PatchMerging(dim, norm_layer=nn.LayerNorm))

        self._out_features = [name for name in _STAGE_NAMES if name in out_features]
        self._out_feature_channels = {}
        self._out_feature_strides = {}
        self.output_norms = nn.ModuleDict()
        for name in self._out_features:
            stage_index = _STAGE_NAMES.index(name)
            self._out_feature_channels[name] = embed_dim * 2**stage_index
            self._out_feature_strides[name] = patch_size * 2**stage_index
            self.output_norms[name] = nn.LayerNorm(embed_dim * 2**stage_index)

        self._init_weights()
        self._register_load_state_dict_pre_hook(_flatten_relative_position_index)

        if freeze_at >= 1:
            self._freeze(freeze_at)

    @classmethod
    def from_config(cls, cfg) -> "SwinBackbone":
        """Swin from ``MODEL.SWIN.*`` and ``MODEL.BACKBONE.FREEZE_AT`` (random weights; the
        checkpointer loads ``MODEL.WEIGHTS``)."""
        swin = cfg.MODEL.SWIN
        return cls(
            pretrain_img_size=swin.PRETRAIN_IMG_SIZE,
            patch_size=swin.PATCH_SIZE,
            embed_dim=swin.EMBED_DIM,
            depths=list(swin.DEPTHS),
            num_heads=list(swin.NUM_HEADS),
            window_size=swin.WINDOW_SIZE,
            mlp_ratio=swin.MLP_RATIO,
            qkv_bias=swin.QKV_BIAS,
            drop_rate=swin.DROP_RATE,
            attn_drop_rate=swin.ATTN_DROP_RATE,
            drop_path_rate=swin.DROP_PATH_RATE,
            ape=swin.APE,
            patch_norm=swin.PATCH_NORM,
            out_features=list(swin.OUT_FEATURES),
            freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        )

    def _init_weights(self) -> None:
        # Swin's initialisation (also Mask2Former's): truncated normal linears, unit LayerNorms.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _freeze(self, freeze_at: int) -> None:
        frozen: list[nn.Module] = [self.patch_embed]
        frozen_stages = min(freeze_at - 1, self.num_stages)
        frozen += list(self.stages[:frozen_stages]) + list(self.downsamples[:frozen_stages])
        freeze_modules(frozen)
        if self.absolute_pos_embed is not None:
            self.absolute_pos_embed.requires_grad_(False)

    @property
    def size_divisibility(self) -> int:
        return self.patch_size * 2 ** (self.num_stages - 1)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images [N, 3, H, W]`` -> ``{res_k: [N, C_k, ceil(H/s_k), ceil(W/s_k)]}``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"SwinBackbone expects images [N, 3, H, W], got {tuple(images.shape)}")
        tokens = self.patch_embed(images)
        if self.absolute_pos_embed is not None:
            grid_size = tokens.shape[1:3]
            position = F.interpolate(self.absolute_pos_embed, size=grid_size, mode="bicubic")
            tokens = tokens + position.permute(0, 2, 3, 1)
        tokens = self.pos_drop(tokens)

        outputs: dict[str, torch.Tensor] = {}
        for stage_index, stage in enumerate(self.stages):
            tokens = stage(tokens)
            name = _STAGE_NAMES[stage_index]
            if name in self.output_norms:
                outputs[name] = self.output_norms[name](tokens).permute(0, 3, 1, 2).contiguous()
            if stage_index < len(self.downsamples):
                tokens = self.downsamples[stage_index](tokens)
        return outputs


def _flatten_relative_position_index(state_dict, prefix, *args) -> None:
    """Accept Swin's original ``[W*W, W*W]`` relative position index (Mask2Former checkpoints)
    for torchvision's flattened ``[W^4]`` buffer: same values, different shape."""
    for key in list(state_dict):
        if key.startswith(prefix) and key.endswith("attn.relative_position_index"):
            index = state_dict[key]
            if isinstance(index, torch.Tensor) and index.dim() == 2:
                state_dict[key] = index.flatten()


# The names Mask2Former's / OV-AVSS's Swin configs select, and an earlier name of ours.
BACKBONE_REGISTRY.register(SwinBackbone, name="D2SwinTransformer")
BACKBONE_REGISTRY.register(SwinBackbone, name="build_swin_backbone")
