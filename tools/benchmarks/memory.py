"""The memory section: peak tensor memory against video length (synthetic videos at 1 fps).

- AVISM whole-video inference (``AVISM.inference``): per-frame work runs in chunks, but the
  frame queries, the mask features (on the CPU beyond ``TEST_MAX_FRAMES_ON_DEVICE`` frames) and
  the output masks ``[K, T, H0, W0]`` are kept for the whole video, so the peak grows linearly
  with the frames: ``peak(T) <= a + b * T``; the section fits ``a`` and ``b`` (MB, MB per
  frame) from the shortest and longest videos and reports how far the middle one is from the
  line (a term growing faster than T would show there).
- The OV-AVSS demo (``ov_avss.demo``): frames go through the model one window at a time, each
  window's maps are written out before the next, and each window's audio examples are computed
  from just its samples (a 16 kHz wav is read by ranges), so nothing grows with the video.

The video frames given to AVISM are allocated before the measurement (they are its input).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import wave
from typing import Any

import numpy as np
import torch

from .measure import error_entry, peak_memory_mb

DEFAULT_MEMORY_SECONDS = (60, 300, 1200)


def parse_seconds(text: str) -> list[int]:
    try:
        seconds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        seconds = []
    if len(seconds) < 2 or min(seconds) < 1:
        raise argparse.ArgumentTypeError(f"--memory-seconds takes at least two whole seconds >= 1, got {text!r}")
    return sorted(seconds)


def _linear_bound(runs: list[dict[str, Any]], what: str) -> str:
    """``peak = a + b * frames`` through the shortest and longest runs, and the middle runs'
    distance from it."""
    first, last = runs[0], runs[-1]
    slope = (last["peak_memory_mb"] - first["peak_memory_mb"]) / (last["frames"] - first["frames"])
    intercept = first["peak_memory_mb"] - slope * first["frames"]
    middle = [
        f"{run['frames']} frames: {run['peak_memory_mb'] - (intercept + slope * run['frames']):+.2f} MB off the line"
        for run in runs[1:-1]
    ]
    return (f"{what}: peak <= {intercept:.2f} MB + {slope * 1024:.2f} KiB per frame "
            f"(line through {first['frames']} and {last['frames']} frames; {', '.join(middle) or 'no middle run'})")


def avism_whole_video(config_file: str, seconds: list[int], device: torch.device) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.MODEL.AVISM.AUDIO_ENCODER_ON = False  # per-frame embeddings as input, as AVISeg gives them
    # Keep all TEST_TOPK tracks (random weights score low): the largest output there can be.
    cfg.MODEL.AVISM.TEST_SCORE_THRESHOLD = 0.0
    cfg.freeze()
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg, device.type).eval()
    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = min(int(round(height * 16 / 9)), int(cfg.INPUT.MAX_SIZE_TEST))
    runs = []
    for length in seconds:
        generator = torch.Generator().manual_seed(length)
        video = {
            "frames": torch.randint(0, 256, (length, 3, height, width), dtype=torch.uint8, generator=generator),
            "audio": torch.randn(length, int(cfg.MODEL.AVISM.AUDIO_DIM), generator=generator),
            "height": height,
            "width": width,
        }
        outputs: list[dict[str, Any]] = []
        memory = peak_memory_mb(lambda: outputs.append(model([video])[0]), device)
        runs.append({
            "frames": length,
            "seconds_at_1_fps": length,
            **memory,
            "output_mb": outputs[0]["segments"]["masks"].numel() * outputs[0]["segments"]["masks"].element_size() / 2**20,
            "tracks": len(outputs[0]["segments"]["scores"]),
        })
    return {"config": config_file, "frame_size": [height, width], "runs": runs,
            "bound": _linear_bound(runs, "AVISM whole-video inference")}


def write_synthetic_frame_folder(
    folder: str, num_frames: int, height: int, width: int, rate: int = 16000, audio_seconds: int | None = None
) -> None:
    """``0.jpg .. (num_frames-1).jpg`` of random pixels and ``audio.wav`` (a 440 Hz tone) of
    ``audio_seconds`` (default ``num_frames``) seconds, the AVSBench frame-folder layout the demo
    reads at 1 fps."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(num_frames)
    for index in range(num_frames):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{index}.jpg"))
    write_tone_wav(os.path.join(folder, "audio.wav"), num_frames if audio_seconds is None else audio_seconds, rate)


def write_tone_wav(path: str, seconds: int, rate: int = 16000) -> None:
    """A 440 Hz tone of ``seconds`` seconds: a mono 16-bit wav at ``rate``."""
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(seconds * rate) / rate) * 32767).astype("<i2")
    with wave.open(path, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.tobytes())


def ov_avss_demo_peak_mb(cfg, folder: str, output_dir: str, device: torch.device) -> dict[str, Any]:
    """Peak tensor memory of the OV-AVSS demo on the frame folder ``folder`` (model built before)."""
    from ov_avss.demo import DemoRequest, VideoPredictor, build_demo
    from ov_avss.demo.frame_source import open_demo_input

    demo = build_demo(cfg, DemoRequest())
    predictor = VideoPredictor(cfg)
    demo_input = open_demo_input(folder, None, 1.0, False)
    return peak_memory_mb(lambda: demo.run(predictor, demo_input, output_dir, show_progress=False), device)


def ov_avss_demo(config_file: str, seconds: list[int], device: torch.device) -> dict[str, Any]:
    from ov_avss.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.MODEL.DEVICE = device.type
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.AUDIO.RANDOM_INIT = True
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = True
    cfg.freeze()
    height = int(cfg.INPUT.MIN_SIZE_TEST)
    width = int(round(height * 16 / 9))
    runs = []
    with tempfile.TemporaryDirectory(prefix="ov_avss_memory_") as work_dir:
        for length in seconds:
            folder = os.path.join(work_dir, f"video_{length}")
            write_synthetic_frame_folder(folder, length, height, width)
            memory = ov_avss_demo_peak_mb(cfg, folder, os.path.join(work_dir, f"out_{length}"), device)
            runs.append({"frames": length, "seconds_at_1_fps": length, **memory, "output_mb": 0.0})
    return {"config": config_file, "frame_size": [height, width], "runs": runs,
            "bound": _linear_bound(runs, "OV-AVSS demo (maps written per window)")}


def benchmark_memory(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    result: dict[str, Any] = {"seconds": args.memory_seconds}
    for name, function in (
        ("avism_whole_video", lambda: avism_whole_video(args.memory_avism_config, args.memory_seconds, device)),
        ("ov_avss_demo", lambda: ov_avss_demo(args.memory_ov_avss_config, args.memory_seconds, device)),
    ):
        try:
            result[name] = function()
        except Exception as error:  # reported in the JSON; the other family still runs
            result[name] = error_entry(f"memory/{name}", error)
    return result
