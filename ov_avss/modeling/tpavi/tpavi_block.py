"""TPAVI: temporal pixel-wise audio-visual interaction (Zhou et al., ECCV 2022), in O(N) memory.

The release's block (a non-local block in 'dot' mode on a window of T frames, N = T*h*w
positions) forms ``f = theta(x)^T phi(A) / N`` ``[N, N]`` and ``y = f g(x)^T``, with ``A`` the
projected audio of each frame repeated over its h x w positions. Because ``A`` is constant within
a frame, ``y(t,h,w) = (1/T) sum_t' [theta(x)(t,h,w) . phi_t'] gbar_t'`` with ``phi_t'`` = phi of
frame t''s audio and ``gbar_t'`` the spatial mean of g(x) over frame t': equal up to float
rounding, and without the N x N matrix (0.98 GB fp32 per 5-frame window at 56 x 56).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["TPAVIBlock"]


class TPAVIBlock(nn.Module):
    """One TPAVI block on windows of ``window_frames`` consecutive frames.

    Parts (the release's names in brackets): ``audio_projection`` [align_channel] Linear
    audio_dim -> C; ``theta``, ``phi``, ``g``: 1x1x1 Conv3d C -> C/2 with bias;
    ``output_projection`` [W_z.0] Conv3d C/2 -> C and ``output_norm`` [W_z.1] BatchNorm3d(C),
    whose weight and bias start at 0 (the block starts as LayerNorm(x)); ``norm`` [norm_layer]
    LayerNorm(C) after the residual.
    """

    def __init__(self, channels: int, audio_dim: int, window_frames: int, audio_projection_bias: bool) -> None:
        """
        Args:
            channels: C, the visual width (inner width C // 2).
            audio_dim: width of the audio embeddings.
            window_frames: T, frames per attention window; inputs are cut into consecutive attention windows.
            audio_projection_bias: bias of ``audio_projection`` (the release: S4 / MS3 yes, AVSS no).
        """
        super().__init__()
        inner = channels // 2
        self.window_frames = window_frames
        # Release quirk: align_channel has a bias in S4 / MS3 and none in AVSS.
        self.audio_projection = nn.Linear(audio_dim, channels, bias=audio_projection_bias)
        self.theta = nn.Conv3d(channels, inner, kernel_size=1)
        self.phi = nn.Conv3d(channels, inner, kernel_size=1)
        self.g = nn.Conv3d(channels, inner, kernel_size=1)
        self.output_projection = nn.Conv3d(inner, channels, kernel_size=1)
        self.output_norm = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.output_norm.weight)
        nn.init.zeros_(self.output_norm.bias)
        self.norm = nn.LayerNorm(channels)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            visual: ``[N, C, h, w]``, frames of each window consecutive, N a multiple of T.
            audio: ``[N, audio_dim]``, one embedding per frame.

        Returns:
            ``[N, C, h, w]`` the block's output, and the projected audio ``[N, C]`` (the AVM
            loss's audio side).
        """
        num_frames, channels, height, width = visual.shape
        window = self.window_frames
        if num_frames % window:
            raise ValueError(f"TPAVIBlock: {num_frames} frames are not whole windows of {window}")
        projected_audio = self.audio_projection(audio)  # [N, C]
        # Release quirk: windows of a fixed length (5 in all its settings), so AVSS's 10-frame
        # inputs attend as two independent halves.
        x = visual.view(-1, window, channels, height, width).transpose(1, 2)  # [B', C, T, h, w]
        audio_volume = projected_audio.view(-1, window, channels).transpose(1, 2)[..., None, None]  # [B', C, T, 1, 1]
        theta = self.theta(x).flatten(2)  # [B', C/2, T*h*w]
        phi = self.phi(audio_volume).flatten(2)  # [B', C/2, T]: phi of each frame's audio
        g_mean = self.g(x).mean(dim=(3, 4))  # [B', C/2, T]: spatial mean of g per frame
        # sum_t' phi_t' gbar_t'^T / T  ->  y = theta^T of it: [B', C/2, T*h*w]
        mixing = torch.einsum("bct,bdt->bcd", phi, g_mean) / window
        y = torch.einsum("bcn,bcd->bdn", theta, mixing).view(x.shape[0], -1, window, height, width)
        z = self.output_norm(self.output_projection(y)) + x  # [B', C, T, h, w]
        z = self.norm(z.permute(0, 2, 3, 4, 1))  # LayerNorm over C at every position
        return z.reshape(num_frames, height, width, channels).permute(0, 3, 1, 2), projected_audio
