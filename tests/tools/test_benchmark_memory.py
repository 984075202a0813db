"""tools/benchmarks/memory.py on the OV-AVSS demo: its frames, maps and audio stream (one
window at a time), so the peak tensor memory does not grow with the video or its audio track.
Measured from torch.profiler's allocation events (and tracemalloc for numpy's buffers), not
from wall time or RSS.

Before the audio was computed per window, the demo computed the log-mel examples of the whole
track at once: about 0.39 MB of tensors per second of audio (docs/benchmarks.md), which set
its peak from about a minute of audio on at the tiny config.
"""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from ov_avss.audio import TrackExamplesOnDemand
from ov_avss.audio.log_mel import silence_log_mel
from ov_avss.config import get_cfg
from tool_loader import load_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO_ROOT / "configs" / "tiny" / "OV_AVSS_tiny.yaml"
# Allocation order and sizes of one window move a little between runs; a term per frame or
# per second of audio would add far more (see each test).
TOLERANCE_MB = 0.25


def _tiny_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(TINY_CONFIG))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", 48, "INPUT.MAX_SIZE_TEST", 96])
    cfg.freeze()
    return cfg


def _demo_peak_mb(tmp_path, frames: int, audio_seconds: int) -> float:
    load_tool("benchmark")
    from benchmarks.memory import ov_avss_demo_peak_mb, write_synthetic_frame_folder

    folder = tmp_path / f"video_{frames}_{audio_seconds}"
    write_synthetic_frame_folder(str(folder), frames, 48, 85, audio_seconds=audio_seconds)
    output = tmp_path / f"out_{frames}_{audio_seconds}"
    return ov_avss_demo_peak_mb(_tiny_cfg(), str(folder), str(output), torch.device("cpu"))["peak_memory_mb"]


def test_demo_peak_memory_does_not_grow_with_the_video(tmp_path):
    """5 s against 25 s of video and audio: holding the 20 extra frames (uint8 frames, float32
    logits of 3 names, an int64 map each) would add 20 * 48 * 85 * (3 + 12 + 8) bytes = 1.8 MB,
    their audio computed at once 20 * 0.39 = 7.8 MB."""
    short, long = _demo_peak_mb(tmp_path, 5, 5), _demo_peak_mb(tmp_path, 25, 25)
    assert short > 0
    assert long - short <= TOLERANCE_MB, (short, long)


def test_demo_peak_memory_does_not_grow_with_a_long_audio_track(tmp_path):
    """The same 5 frames with 5 s and with 10 min of audio: the frames ask for their 5 examples
    only, which the demo computes from their 5 s of the wav; the whole track's examples at once
    would add about 600 * 0.39 = 234 MB."""
    short, long = _demo_peak_mb(tmp_path, 5, 5), _demo_peak_mb(tmp_path, 5, 600)
    assert long - short <= TOLERANCE_MB, (short, long)


def write_tone_m4a(path: str, seconds: int, rate: int = 44100) -> None:
    """A 440 Hz tone of ``seconds`` seconds: mono AAC at ``rate`` in an m4a."""
    import av

    with av.open(path, "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for second in range(seconds):
            t = np.arange(second * rate, (second + 1) * rate) / rate
            frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, second * rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("kind", ["wav 16 kHz", "wav 44.1 kHz", "m4a 44.1 kHz"])
def test_audio_examples_of_every_window_of_a_long_track(tmp_path, kind):
    """Every 5-frame window of a 10 min track against every window of a 30 s one, through
    ``TrackExamplesOnDemand`` (what the demo holds): wavs at 16 and 44.1 kHz read by ranges,
    an AAC track decoded going forward, each window resampled from just its samples. The same
    peak of tensor memory and of numpy's and Python's memory (tracemalloc, measured in a
    separate pass: numpy reports its buffers to it, the profiler's own records would count
    there) within 0.1 MB; the file is opened inside the measurement."""
    load_tool("benchmark")
    from benchmarks.measure import peak_memory_mb
    from benchmarks.memory import write_tone_wav

    silence_log_mel(1)  # the front end's cached constants, outside the measurements

    def peaks(seconds: int) -> tuple[float, float]:
        path = str(tmp_path / f"{seconds}.{kind[:3]}")
        if kind.startswith("wav"):
            write_tone_wav(path, seconds, 16000 if "16" in kind else 44100)
        else:
            write_tone_m4a(path, seconds)

        def every_window() -> None:
            track = TrackExamplesOnDemand.from_file(path)
            for start in range(0, seconds, 5):
                track.for_frames(np.arange(start, min(start + 5, seconds), dtype=np.float64))

        tensors = peak_memory_mb(every_window, torch.device("cpu"))["peak_memory_mb"]
        tracemalloc.start()
        every_window()
        python = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return tensors, python

    peaks(30)  # the resampler's taps for the rate, cached, outside the measurements compared
    short, long = peaks(30), peaks(600)
    assert short[0] > 0.5, short  # the measurement sees the window's log-mel work
    assert long[0] - short[0] <= 0.1 and long[1] - short[1] <= 0.1, (short, long)
