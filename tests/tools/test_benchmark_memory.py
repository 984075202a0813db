"""tools/benchmarks/memory.py on the OV-AVSS demo: its frames and maps stream (one window at
a time), so between a 5 s and a 25 s video the peak tensor memory grows by no more than the
audio examples. Measured from torch.profiler's allocation events, not from wall time or RSS.

At these lengths the model's window sets the peak. The audio front end computes the log-mel of
the whole track at once, about 0.4 MB per second of audio (docs/benchmarks.md), so beyond
about a minute at the tiny config it sets the demo's peak, which then grows with the video.
"""
from __future__ import annotations

from pathlib import Path

from ov_avss.config import get_cfg
from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO_ROOT / "configs" / "tiny" / "OV_AVSS_tiny.yaml"
# One VGGish example per second: 96 x 64 float32.
AUDIO_EXAMPLE_BYTES = 96 * 64 * 4


def test_demo_peak_memory_does_not_grow_with_the_video(tmp_path):
    load_tool("benchmark")
    from benchmarks.memory import ov_avss_demo_peak_mb, write_synthetic_frame_folder

    import torch

    cfg = get_cfg()
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", 48, "INPUT.MAX_SIZE_TEST", 96])
    cfg.freeze()
    height, width = 48, 85
    peaks = {}
    for frames in (5, 25):
        folder = tmp_path / f"video_{frames}"
        write_synthetic_frame_folder(str(folder), frames, height, width)
        peaks[frames] = ov_avss_demo_peak_mb(cfg, str(folder), str(tmp_path / f"out_{frames}"), torch.device("cpu"))
    growth_mb = peaks[25]["peak_memory_mb"] - peaks[5]["peak_memory_mb"]
    # The audio examples of the 20 extra seconds add 20 * 24 KiB = 0.47 MB; holding the 20
    # extra frames as well (uint8 frames, float32 logits of 3 names, an int64 map each) would
    # add 20 * 48 * 85 * (3 + 12 + 8) bytes = 1.8 MB more.
    allowed_mb = (20 * AUDIO_EXAMPLE_BYTES) / 2**20 + 0.25
    assert peaks[5]["peak_memory_mb"] > 0
    assert growth_mb <= allowed_mb, (peaks, allowed_mb)
