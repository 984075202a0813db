"""Audio decoding (PyAV) and the VGGish log-mel front end.

``waveform_to_examples`` reproduces the published VGGish input pipeline: mono mix, resampling to
16 kHz, a periodic-Hann STFT (400-sample window, 160-sample hop, 512-point FFT), an HTK mel
filterbank built in the mel domain with zero weight on the DC bin, ``log(mel + 0.01)``, and
non-overlapping 96-frame examples. Everything is vectorised: a 10 s clip takes milliseconds.
"""
from __future__ import annotations

import functools
import logging
import math
import os

import av
import numpy as np
import torch
import torchaudio.functional as AF

from . import vggish_params as P

logger = logging.getLogger(__name__)

__all__ = [
    "load_audio",
    "waveform_to_examples",
    "clip_log_mel",
    "silence_log_mel",
    "mel_filterbank",
]


def load_audio(path: str) -> tuple[torch.Tensor, int]:
    """Decode the first audio stream of ``path`` (wav, mp4, mkv, m4a, ... through PyAV).

    Returns:
        ``(waveform, sample_rate)``: float32 ``[C, N]`` in [-1, 1] and the stream's rate.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be decoded or holds no audio stream.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Audio file not found: {path}")
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise ValueError(f"Audio file {path} holds no audio stream")
            stream = container.streams.audio[0]
            # Planar float keeps each channel in its own row whatever the stored sample format.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
            chunks = []
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
            sample_rate = int(stream.rate)
            num_channels = stream.layout.nb_channels if stream.layout is not None else 1
    except av.FFmpegError as e:
        raise ValueError(f"Cannot decode audio file {path}: {e}") from e
    if chunks:
        waveform = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    else:
        waveform = np.zeros((num_channels, 0), dtype=np.float32)
    if sample_rate <= 0:
        raise ValueError(f"Audio file {path} reports an invalid sample rate {sample_rate}")
    return torch.from_numpy(np.ascontiguousarray(waveform)), sample_rate


def _hz_to_mel(frequencies_hz: torch.Tensor) -> torch.Tensor:
    return P.MEL_HIGH_FREQUENCY_Q * torch.log1p(frequencies_hz / P.MEL_BREAK_FREQUENCY_HERTZ)


@functools.lru_cache(maxsize=4)
def mel_filterbank(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """HTK mel weights ``[FFT_LENGTH // 2 + 1, NUM_MEL_BANDS]`` (VGGish's construction).

    Triangles are linear in the mel domain between band edges spaced evenly in mel from
    ``MEL_MIN_HZ`` to ``MEL_MAX_HZ``; the DC bin gets weight 0.
    """
    num_bins = P.FFT_LENGTH // 2 + 1
    nyquist_hz = P.SAMPLE_RATE / 2.0
    bins_mel = _hz_to_mel(torch.linspace(0.0, nyquist_hz, num_bins, dtype=torch.float64))
    edges_mel = torch.linspace(
        float(_hz_to_mel(torch.tensor(P.MEL_MIN_HZ, dtype=torch.float64))),
        float(_hz_to_mel(torch.tensor(P.MEL_MAX_HZ, dtype=torch.float64))),
        P.NUM_MEL_BANDS + 2,
        dtype=torch.float64,
    )
    lower, center, upper = edges_mel[:-2], edges_mel[1:-1], edges_mel[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights[0, :] = 0.0
    return weights.to(dtype)


@functools.lru_cache(maxsize=4)
def _periodic_hann(dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(P.STFT_WINDOW_LENGTH_SAMPLES, periodic=True, dtype=dtype)


def waveform_to_examples(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """VGGish log-mel examples of a waveform.

    Args:
        waveform: float ``[N]`` or ``[C, N]`` in [-1, 1]; channels are averaged.
        sample_rate: rate of ``waveform`` in Hz; resampled to 16 kHz with torchaudio.

    Returns:
        float32 ``[num_examples, 1, 96, 64]``: one example per 0.96 s; a partial last example is
        dropped (0 examples when the audio is shorter than 0.975 s).
    """
    waveform = torch.as_tensor(waveform)
    if waveform.ndim not in (1, 2):
        raise ValueError(f"waveform must be [N] or [C, N], got shape {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise ValueError(f"waveform must be a float tensor in [-1, 1], got dtype {waveform.dtype}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    samples = waveform.to(torch.float64)
    if samples.ndim == 2:
        samples = samples.mean(dim=0)
    if sample_rate != P.SAMPLE_RATE:
        samples = AF.resample(samples, orig_freq=int(sample_rate), new_freq=P.SAMPLE_RATE)

    window_length, hop = P.STFT_WINDOW_LENGTH_SAMPLES, P.STFT_HOP_LENGTH_SAMPLES
    empty = torch.zeros((0, 1, P.NUM_FRAMES, P.NUM_BANDS), dtype=torch.float32)
    if samples.numel() < window_length:
        return empty
    # No centring or padding: frame i covers samples [i * hop, i * hop + window_length).
    frames = samples.unfold(0, window_length, hop) * _periodic_hann(torch.float64)
    magnitude = torch.fft.rfft(frames, n=P.FFT_LENGTH, dim=1).abs()
    log_mel = torch.log(magnitude @ mel_filterbank(torch.float64) + P.LOG_OFFSET)

    num_examples = (log_mel.shape[0] - P.NUM_FRAMES) // P.NUM_FRAMES + 1
    if num_examples <= 0:
        return empty
    examples = log_mel[: num_examples * P.NUM_FRAMES].reshape(num_examples, 1, P.NUM_FRAMES, P.NUM_BANDS)
    return examples.to(torch.float32)


def clip_log_mel(path: str, num_seconds: int) -> torch.Tensor:
    """Log-mel examples of a clip's audio file, one per second of video.

    Audio shorter than the clip is zero-padded (with a warning naming the file); longer audio is
    cut to the clip. Returns float32 ``[num_seconds, 1, 96, 64]``; example t goes with frame t.
    """
    waveform, sample_rate = load_audio(path)
    needed = int(math.ceil(num_seconds * sample_rate))
    if waveform.shape[-1] < needed:
        logger.warning(
            "Audio %s lasts %.2f s, shorter than its %d s clip; zero-padding it.",
            path, waveform.shape[-1] / sample_rate, num_seconds,
        )
        waveform = torch.nn.functional.pad(waveform, (0, needed - waveform.shape[-1]))
    else:
        waveform = waveform[:, :needed]
    examples = waveform_to_examples(waveform, sample_rate)
    if examples.shape[0] < num_seconds:
        raise ValueError(
            f"Audio {path}: {num_seconds} s at {sample_rate} Hz gave only {examples.shape[0]} "
            f"log-mel examples"
        )
    return examples[:num_seconds]


def silence_log_mel(num_seconds: int) -> torch.Tensor:
    """The log-mel examples of ``num_seconds`` of silence: ``[num_seconds, 1, 96, 64]``."""
    return waveform_to_examples(torch.zeros(num_seconds * P.SAMPLE_RATE), P.SAMPLE_RATE)
