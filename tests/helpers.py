"""Helpers shared by tests of several folders: the tiny configs, a synthetic AVISeg config, window
inputs for evaluators, a test-only audio front end, and loading a test-support file as a module.

Importable as ``helpers``: ``tests/`` is on ``sys.path`` because ``tests/conftest.py`` lives
there (pytest's default ``prepend`` import mode puts a root conftest's folder first).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

import torch

from ov_avss.audio import AUDIO_FRONT_END_REGISTRY, AudioFrontEnd
from ov_avss.config import get_cfg
from ov_avss.data.aviseg_synthetic import make_synthetic_aviseg
from ov_avss.structures import VideoInput, make_video_input

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_OV_AVSS_CONFIG = REPO_ROOT / "configs" / "tiny" / "OV_AVSS_tiny.yaml"
TINY_AVISM_CONFIG = REPO_ROOT / "configs" / "avis" / "AVISM_tiny_synthetic.yaml"


def load_config(path: Path, overrides: Sequence = ()):
    """``get_cfg()`` merged with the YAML file ``path`` and then ``overrides`` (key, value, ...)."""
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    cfg.merge_from_list(list(overrides))
    return cfg


def synthetic_aviseg_cfg(root: Path, seed: int, num_videos: dict[str, int], overrides: Sequence = ()):
    """A synthetic AVISeg under ``root`` (48x64 frames, 6 to 8 per video) and the tiny AVISM config
    reading it, with ``overrides`` applied."""
    make_synthetic_aviseg(str(root), seed=seed, num_videos=num_videos, size=(48, 64), frames=(6, 8))
    return load_config(TINY_AVISM_CONFIG, ["DATASETS.ROOT", str(root), *overrides])


def evaluation_window(
    uid: str,
    sem_seg_gt: torch.Tensor,
    frame_indices: Sequence[int],
    vocabulary: Sequence[str],
    sounding_categories: Sequence[str] = (),
    dataset_name: str = "avsbench_ov_test",
) -> VideoInput:
    """A test-time ``VideoInput`` with ground truth ``sem_seg_gt`` ``[T, H0, W0]``; its frames
    (black, ``[T, 3, H0, W0]``) and audio (zeros) are there for the type: evaluators read neither."""
    num_frames, height, width = sem_seg_gt.shape
    return make_video_input(
        uid=uid,
        dataset_name=dataset_name,
        frame_indices=frame_indices,
        height=height,
        width=width,
        frames=torch.zeros((num_frames, 3, height, width), dtype=torch.uint8),
        audio=torch.zeros((num_frames, 1, 96, 64)),
        vocabulary=vocabulary,
        sounding_categories=sounding_categories,
        sem_seg_gt=sem_seg_gt,
    )


def inference_window(
    uid: str, frames: torch.Tensor, vocabulary: Sequence[str], output_size: tuple[int, int], generator: torch.Generator
) -> VideoInput:
    """A test-time ``VideoInput`` of ``frames`` uint8 ``[T, 3, H, W]`` whose original size is
    ``output_size`` (height, width), with random log-mel audio ``[T, 1, 96, 64]`` drawn from
    ``generator``."""
    num_frames = frames.shape[0]
    return make_video_input(
        uid=uid,
        dataset_name="synthetic",
        frame_indices=range(num_frames),
        height=output_size[0],
        width=output_size[1],
        frames=frames,
        audio=torch.randn(num_frames, 1, 96, 64, generator=generator),
        vocabulary=vocabulary,
    )


def load_module(path: Path) -> ModuleType:
    """The Python file ``path`` as the module named by its stem, loaded once per session."""
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(loaded.__file__).resolve() != path.resolve():
            raise ImportError(f"A module '{name}' from {loaded.__file__} is loaded already; cannot load {path}")
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def original_release_layout() -> ModuleType:
    """``tests/checkpoint/original_release_layout.py``: the original releases' parameter names
    and shapes."""
    return load_module(REPO_ROOT / "tests" / "checkpoint" / "original_release_layout.py")


def avism_release_layout() -> ModuleType:
    """``tests/checkpoint/avism_release_layout.py``: the AVISM release's parameter names and shapes."""
    return load_module(REPO_ROOT / "tests" / "checkpoint" / "avism_release_layout.py")


# A second audio front end, registered for tests only: what a new audio encoder would register.
TEST_AUDIO_ENCODER = "TestRMSPerSecond"


def rms_per_second(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The test front end's examples: float32 ``[K, 2]``, the mean and RMS of each whole second
    of ``waveform`` (float ``[N]`` or ``[C, N]``, channels averaged) at its own rate."""
    mono = waveform.to(torch.float64).reshape(-1, waveform.shape[-1]).mean(dim=0)
    seconds = mono[: mono.shape[0] // sample_rate * sample_rate].reshape(-1, sample_rate)
    return torch.stack([seconds.mean(dim=1), seconds.pow(2).mean(dim=1).sqrt()], dim=1).to(torch.float32)


def mono_reader_at_16k(read, num_samples: int, sample_rate: int):
    """The test front end's ``mono_reader``: channels averaged; it does not resample (16 kHz only)."""
    if sample_rate != 16000:
        raise ValueError(f"the test front end takes 16 kHz audio only, got {sample_rate} Hz")
    return num_samples, lambda i, j: (lambda w: w.to(torch.float32).reshape(-1, w.shape[-1]).mean(dim=0))(read(i, j))


if TEST_AUDIO_ENCODER not in AUDIO_FRONT_END_REGISTRY:
    AUDIO_FRONT_END_REGISTRY.register(
        AudioFrontEnd(
            name="test mean and RMS per second", sample_rate=16000, example_span_samples=16000,
            example_hop_samples=16000, example_shape=(2,), waveform_to_examples=rms_per_second,
            silence=lambda n: torch.zeros((n, 2)), mono_reader=mono_reader_at_16k,
        ),
        name=TEST_AUDIO_ENCODER,
    )
