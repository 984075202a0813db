"""``--compare``: our evaluator and audio front end against references written from the
published definitions (tools/benchmark_reference.py), timed in interleaved repetitions."""
from __future__ import annotations

import argparse
import os
import tempfile
import wave
from typing import Any

import torch

from .data import evaluator_input_window
from .measure import error_entry, interleaved_medians


def _compare_entry(medians: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {
        "ours_ms": medians["ours"],
        "reference_ms": medians["reference"],
        "ratio_reference_over_ours": medians["reference"] / medians["ours"],
        **extra,
    }


def _label_windows(num_frames: int, frames_per_window: int, size: int, seed: int = 0):
    """Ground truth of a few blobby regions per frame and a prediction that gets most of it
    right: int64 ``[frames_per_window, size, size]`` pairs, labels 0..70, some pixels 255."""
    generator = torch.Generator().manual_seed(seed)
    windows = []
    for _ in range(-(-num_frames // frames_per_window)):
        coarse = torch.randint(0, 71, (frames_per_window, 1, 7, 7), generator=generator).float()
        ground_truth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="nearest")[:, 0].long()
        ground_truth[ground_truth > 8] = 0  # mostly background and a few classes
        prediction = ground_truth.clone()
        wrong = torch.rand(prediction.shape, generator=generator) < 0.1
        prediction[wrong] = torch.randint(0, 71, (int(wrong.sum()),), generator=generator)
        ground_truth[:, :4] = 255  # ignored rows
        windows.append((prediction, ground_truth))
    return windows


def compare_evaluator(args: argparse.Namespace) -> dict[str, Any]:
    """Our AVSSEvaluator (process + evaluate) against the release's per-frame histc loop."""
    from benchmark_reference import avss_metrics_reference
    from ov_avss.data.categories import CATEGORIES
    from ov_avss.evaluation.avss_evaluator import AVSSEvaluator

    size, frames_per_window = 224, 5
    windows = _label_windows(args.compare_frames, frames_per_window, size)
    inputs = [evaluator_input_window(index, ground_truth, CATEGORIES) for index, (_, ground_truth) in enumerate(windows)]
    outputs = [{"sem_seg": prediction} for prediction, _ in windows]
    results: dict[str, dict[str, float]] = {}

    def ours() -> None:
        evaluator = AVSSEvaluator("avsbench_ov_test", None, None)
        evaluator.reset()
        for window, output in zip(inputs, outputs):
            evaluator.process([window], [output])
        results["ours"] = evaluator.evaluate()["sem_seg"]

    def reference() -> None:
        frames = [(p, g) for prediction, ground_truth in windows for p, g in zip(prediction, ground_truth)]
        results["reference"] = avss_metrics_reference(frames)

    medians = interleaved_medians({"ours": ours, "reference": reference}, args.warmup, args.repeats)
    difference = max(abs(results["ours"][key] - results["reference"][key]) for key in ("mIoU", "F_score"))
    return _compare_entry(
        medians,
        frames=len(windows) * frames_per_window,
        frame_size=[size, size],
        ours_metrics={key: results["ours"][key] for key in ("mIoU", "F_score")},
        reference_metrics=results["reference"],
        max_abs_metric_difference=difference,
    )


def _write_int16_wav(path: str, seconds: float, rate: int, channels: int) -> None:
    generator = torch.Generator().manual_seed(rate)
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    columns = [0.3 * torch.sin(2 * torch.pi * (440 + 2000 * c) * t) + 0.05 * torch.randn(t.shape, generator=generator, dtype=torch.float64)
               for c in range(channels)]
    ints = (torch.stack(columns, dim=1).clamp(-1, 1) * 32767).round().to(torch.int16)
    with wave.open(path, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(ints.numpy().astype("<i2").tobytes())


def _published_wavfile_to_examples(path: str) -> torch.Tensor:
    """The published ``wavfile_to_examples`` with its default ``return_tensor=True``: int16
    samples / 32768, the numpy front end, then the release's conversion to the float32
    ``[K, 1, 96, 64]`` tensor that VGGish consumes (``torch.tensor(examples, requires_grad=True)
    [:, None].float()``), so that both sides of the comparison return the same thing."""
    import numpy as np
    from benchmark_reference import vggish_examples_reference

    with wave.open(path, "rb") as reader:
        channels, rate = reader.getnchannels(), reader.getframerate()
        ints = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    examples = vggish_examples_reference(ints.reshape(-1, channels) / 32768.0, rate)
    return torch.tensor(examples, requires_grad=True)[:, None, :, :].float()


def compare_audio(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    """Our front end (``audio_examples_for_frames``: wav decode, resampling, log-mel) against the
    published one, per 10 s wav at 16 kHz mono and 44.1 kHz stereo."""
    from benchmark_reference import resampy_available
    from ov_avss.audio import audio_examples_for_frames

    seconds = args.compare_audio_seconds
    result: dict[str, Any] = {
        "reference_resampler": "resampy (the published code)" if resampy_available()
        else "numpy transcription of resampy's loop (resampy not installed; slower than resampy)",
    }
    for rate, channels in ((16000, 1), (44100, 2)):
        path = os.path.join(work_dir, f"audio_{rate}_{channels}.wav")
        _write_int16_wav(path, seconds, rate, channels)
        outputs: dict[str, Any] = {}

        def ours() -> None:
            outputs["ours"] = audio_examples_for_frames(path, range(int(seconds)))

        def reference() -> None:
            outputs["reference"] = _published_wavfile_to_examples(path)

        medians = interleaved_medians({"ours": ours, "reference": reference}, args.warmup, args.repeats)
        expected = outputs["reference"][: int(seconds)].detach()
        result[f"{rate}_hz_{channels}ch"] = _compare_entry(
            medians,
            seconds=seconds,
            max_abs_log_mel_difference=float((outputs["ours"] - expected).abs().max()),
        )
    return result


def benchmark_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluator and audio front end against the published definitions, in one run."""
    torch.set_num_threads(args.compare_threads)
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "warmup": args.warmup, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="ov_avss_compare_") as work_dir:
        for name, function in (("evaluator", lambda: compare_evaluator(args)),
                               ("audio_frontend", lambda: compare_audio(args, work_dir))):
            try:
                result[name] = function()
            except Exception as error:  # reported in the JSON; the other comparison still runs
                result[name] = error_entry(f"compare/{name}", error)
    return result
