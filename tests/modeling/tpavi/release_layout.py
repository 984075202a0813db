"""State dicts in the AVSBench release's TPAVI layout (``Pred_endecoder.state_dict()``), written
from the release's names and shapes, with random values: ResNet-50 (``resnet.*``, including its
unused ``layer3_2`` / ``layer4_2``) or PVT-v2-b5 (``encoder_backbone.*``, original PVT-v2 names),
the reducers ``conv{i}``, ``tpavi_b{i}``, ``path{i}`` (both residual units) and ``output_conv``."""
from __future__ import annotations

import re

import torch
from timm.models import pvt_v2
from torchvision.models.resnet import Bottleneck, ResNet

# Keys of the release's checkpoints (the AVSS ones lack the 4 align_channel biases).
RELEASE_KEY_COUNTS = {("R50", False): 630, ("PVTv2", False): 1190, ("R50", True): 626, ("PVTv2", True): 1186}
BACKBONE_CHANNELS = {"R50": (256, 512, 1024, 2048), "PVTv2": (64, 128, 320, 512)}


def _release_resnet() -> dict[str, torch.Tensor]:
    """B2_ResNet: torchvision's ResNet-50 layers with layer3/4 named layer3_1/4_1, plus the
    second branch layer3_2 (input 512) and layer4_2 built the same way."""
    resnet = ResNet(Bottleneck, [3, 4, 6, 3])
    state = {}
    for key, value in resnet.state_dict().items():
        if key.startswith("fc."):
            continue
        key = re.sub(r"^layer([34])\.", r"layer\1_1.", key)
        state[f"resnet.{key}"] = value
    resnet.inplanes = 512
    layer3_2 = resnet._make_layer(Bottleneck, 256, 6, stride=2)
    resnet.inplanes = 1024
    layer4_2 = resnet._make_layer(Bottleneck, 512, 3, stride=2)
    for name, layer in (("layer3_2", layer3_2), ("layer4_2", layer4_2)):
        for key, value in layer.state_dict().items():
            state[f"resnet.{name}.{key}"] = value
    return state


def _release_pvt() -> dict[str, torch.Tensor]:
    """pvt_v2_b5 under the original PVT-v2 names (inverse of timm's checkpoint_filter_fn)."""
    state = {}
    for key, value in pvt_v2.pvt_v2_b5(num_classes=0).state_dict().items():
        key = key.replace("mlp.dwconv.", "mlp.dwconv.dwconv.")
        key = re.sub(r"^stages\.(\d)\.downsample", lambda m: f"patch_embed{int(m.group(1)) + 1}", key)
        key = re.sub(r"^patch_embed\.", "patch_embed1.", key)
        key = re.sub(r"^stages\.(\d)\.blocks\.(\d+)", lambda m: f"block{int(m.group(1)) + 1}.{m.group(2)}", key)
        key = re.sub(r"^stages\.(\d)\.norm", lambda m: f"norm{int(m.group(1)) + 1}", key)
        state[f"encoder_backbone.{key}"] = value
    return state


def release_state_dict(backbone: str, avss: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """A release-layout TPAVI state dict with random values (``backbone``: "R50" or "PVTv2")."""
    g = torch.Generator().manual_seed(seed)
    state = _release_resnet() if backbone == "R50" else _release_pvt()
    for i, channels in enumerate(BACKBONE_CHANNELS[backbone], start=1):
        for j in range(4):
            state[f"conv{i}.conv2d_list.{j}.weight"] = torch.empty(256, channels, 3, 3)
            state[f"conv{i}.conv2d_list.{j}.bias"] = torch.empty(256)
        prefix = f"tpavi_b{i}"
        state[f"{prefix}.align_channel.weight"] = torch.empty(256, 128)
        if not avss:
            state[f"{prefix}.align_channel.bias"] = torch.empty(256)
        state[f"{prefix}.norm_layer.weight"] = torch.empty(256)
        state[f"{prefix}.norm_layer.bias"] = torch.empty(256)
        for part in ("g", "theta", "phi"):
            state[f"{prefix}.{part}.weight"] = torch.empty(128, 256, 1, 1, 1)
            state[f"{prefix}.{part}.bias"] = torch.empty(128)
        state[f"{prefix}.W_z.0.weight"] = torch.empty(256, 128, 1, 1, 1)
        state[f"{prefix}.W_z.0.bias"] = torch.empty(256)
        for buffer in ("weight", "bias", "running_mean", "running_var"):
            state[f"{prefix}.W_z.1.{buffer}"] = torch.empty(256)
        state[f"{prefix}.W_z.1.num_batches_tracked"] = torch.tensor(0)
        for unit in (1, 2):
            for conv in (1, 2):
                state[f"path{i}.resConfUnit{unit}.conv{conv}.weight"] = torch.empty(256, 256, 3, 3)
                state[f"path{i}.resConfUnit{unit}.conv{conv}.bias"] = torch.empty(256)
    classes = 71 if avss else 1
    for index, shape in ((0, (128, 256, 3, 3)), (2, (32, 128, 3, 3)), (4, (classes, 32, 1, 1))):
        state[f"output_conv.{index}.weight"] = torch.empty(shape)
        state[f"output_conv.{index}.bias"] = torch.empty(shape[0])
    for key, value in state.items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=g)
        else:
            state[key] = torch.tensor(7)
    assert len(state) == RELEASE_KEY_COUNTS[(backbone, avss)], len(state)
    return state
