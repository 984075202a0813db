"""The TPAVI block equals the release's literal non-local formula (the N x N matrix of a 5-frame
window), written here from its definition, within 1e-5; windows are independent."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ov_avss.modeling.tpavi import TPAVIBlock

TOLERANCE = 1e-5


def literal_release_tpavi(block: TPAVIBlock, visual: torch.Tensor, audio: torch.Tensor, window: int) -> torch.Tensor:
    """The release's ``TPAVIModule`` ('dot' mode) with ``block``'s weights: audio repeated over
    every position of its frame, f = theta(x)^T phi(A) / N materialised, y = f g(x)^T, z = W_z(y)
    + x, LayerNorm over channels."""
    frames, channels, height, width = visual.shape
    x = visual.reshape(-1, window, channels, height, width).permute(0, 2, 1, 3, 4)  # [B', C, T, h, w]
    a = F.linear(audio, block.audio_projection.weight, block.audio_projection.bias)
    a = a.reshape(-1, window, channels).permute(0, 2, 1)[..., None, None].repeat(1, 1, 1, height, width)
    theta = block.theta(x).flatten(2)  # [B', C', N]
    phi = block.phi(a).flatten(2)
    g = block.g(x).flatten(2).permute(0, 2, 1)  # [B', N, C']
    f = torch.matmul(theta.permute(0, 2, 1), phi) / theta.shape[-1]  # [B', N, N]
    y = torch.matmul(f, g).permute(0, 2, 1).reshape(x.shape[0], -1, window, height, width)
    z = block.output_norm(block.output_projection(y)) + x
    z = block.norm(z.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
    return z.permute(0, 2, 1, 3, 4).reshape(frames, channels, height, width)


def _block(bias: bool) -> TPAVIBlock:
    torch.manual_seed(0)
    block = TPAVIBlock(channels=32, audio_dim=16, window_frames=5, audio_projection_bias=bias)
    # Non-zero output norm: at its release initialisation (0) the attention path would vanish.
    torch.nn.init.normal_(block.output_norm.weight)
    torch.nn.init.normal_(block.output_norm.bias)
    return block


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_equals_the_literal_release_formula(bias, mode):
    block = _block(bias).train(mode == "train")
    visual, audio = torch.randn(10, 32, 7, 9), torch.randn(10, 16)
    ours, projected = block(visual, audio)
    literal = literal_release_tpavi(block, visual, audio, window=5)
    assert ours.shape == visual.shape
    assert (ours - literal).abs().max() < TOLERANCE
    assert torch.allclose(projected, F.linear(audio, block.audio_projection.weight, block.audio_projection.bias))
    assert (block.audio_projection.bias is not None) == bias


def test_attention_path_matters():
    """The equality is not carried by the residual alone: a different audio changes the output."""
    block = _block(True).eval()
    visual, audio = torch.randn(5, 32, 4, 4), torch.randn(5, 16)
    assert (block(visual, audio)[0] - block(visual, torch.randn(5, 16))[0]).abs().max() > 1e-3


def test_at_release_initialisation_the_block_is_layer_norm():
    block = TPAVIBlock(channels=32, audio_dim=16, window_frames=5, audio_projection_bias=True).eval()
    visual = torch.randn(5, 32, 4, 4)
    expected = F.layer_norm(visual.permute(0, 2, 3, 1), (32,), block.norm.weight, block.norm.bias).permute(0, 3, 1, 2)
    assert (block(visual, torch.randn(5, 16))[0] - expected).abs().max() < TOLERANCE


def test_ten_frame_video_is_two_independent_windows():
    """AVSS quirk: a 10-frame input attends as two 5-frame halves."""
    block = _block(False).eval()
    visual, audio = torch.randn(10, 32, 4, 4), torch.randn(10, 16)
    whole = block(visual, audio)[0]
    first = block(visual[:5], audio[:5])[0]
    changed_second_half = block(visual, torch.cat([audio[:5], torch.randn(5, 16)]))[0]
    assert (whole[:5] - first).abs().max() < TOLERANCE
    assert (changed_second_half[:5] - whole[:5]).abs().max() < TOLERANCE


def test_frames_not_whole_windows_are_refused():
    with pytest.raises(ValueError, match="whole windows of 5"):
        _block(True)(torch.randn(7, 32, 4, 4), torch.randn(7, 16))
