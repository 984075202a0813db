"""Audio decoding and the VGGish log-mel front end.

``waveform_to_examples`` reproduces the published VGGish input pipeline: mono mix, resampling to
16 kHz as resampy's ``kaiser_best`` does it, a periodic-Hann STFT (400-sample window,
160-sample hop, 512-point FFT), an HTK mel filterbank built in the mel domain with zero weight
on the DC bin, ``log(mel + 0.01)``, and non-overlapping 96-frame examples. PCM and float wavs
are read by :mod:`ov_avss.audio.wav_io`; other containers (mp4, m4a, ...) go through PyAV.
``vggish_rate_reader`` gives the mono 16 kHz track by ranges, each from just the input samples
it depends on, and ``StreamedAudio`` a container's track by ranges going forward (the demo's
examples per window).
Which examples go with which video frames is :mod:`ov_avss.audio.frame_examples`.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterator

import av
import numpy as np
import torch
import torch.nn.functional as F

from . import vggish_params as P
from .wav_io import is_wav_path, read_wav

__all__ = [
    "StreamedAudio",
    "load_audio",
    "mono_at_vggish_rate",
    "vggish_rate_reader",
    "resample_to_vggish_rate",
    "waveform_to_examples",
    "silence_log_mel",
    "mel_filterbank",
]


def _pyav_chunks(path: str) -> Iterator[tuple[int, int, np.ndarray]]:
    """The first audio stream of ``path`` decoded: ``(sample_rate, num_channels, chunk)`` with
    float32 ``chunk`` ``[C, n]``, in order (an empty chunk first, so that a track without
    samples still reports its rate and channels).

    Raises:
        ValueError: the file cannot be decoded, holds no audio stream or reports no valid rate.
    """
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise ValueError(f"Audio file {path} holds no audio stream")
            stream = container.streams.audio[0]
            sample_rate = int(stream.rate)
            if sample_rate <= 0:
                raise ValueError(f"Audio file {path} reports an invalid sample rate {sample_rate}")
            num_channels = stream.layout.nb_channels if stream.layout is not None else 1
            yield sample_rate, num_channels, np.zeros((num_channels, 0), dtype=np.float32)
            # Planar float keeps each channel in its own row whatever the stored sample format.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield sample_rate, num_channels, out.to_ndarray().astype(np.float32, copy=False)
            for out in resampler.resample(None):
                yield sample_rate, num_channels, out.to_ndarray().astype(np.float32, copy=False)
    except av.FFmpegError as e:
        raise ValueError(f"Cannot decode audio file {path}: {e}") from e


def _load_with_pyav(path: str) -> tuple[np.ndarray, int]:
    chunks = list(_pyav_chunks(path))
    return np.concatenate([chunk for _, _, chunk in chunks], axis=1), chunks[0][0]


class StreamedAudio:
    """The first audio stream of a container (mp4, m4a, ...) read by ranges of samples, going
    forward, without holding the track: ``read(i, j)`` decodes ahead as far as ``j`` and drops
    what lies before ``i``; a range before what is held restarts the decoding from the start.
    The samples are those :func:`load_audio` gives (the same decoding).

    Opening decodes the track once to count its samples (and to fail now on a file that cannot
    be decoded), holding one chunk at a time.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be decoded or holds no audio stream.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Audio file not found: {path}")
        self.path = path
        self.num_samples = self.sample_rate = self.num_channels = 0
        for sample_rate, num_channels, chunk in _pyav_chunks(path):
            self.sample_rate, self.num_channels = sample_rate, num_channels
            self.num_samples += chunk.shape[1]
        self._chunks: Iterator[tuple[int, int, np.ndarray]] | None = None
        self._held: list[np.ndarray] = []
        self._held_start = self._held_end = 0

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 ``[C, stop - start]``, samples ``start:stop`` (``0 <= start <= stop <= num_samples``)."""
        if stop <= start:
            return np.zeros((self.num_channels, 0), dtype=np.float32)
        if self._chunks is None or start < self._held_start:
            self._chunks, self._held, self._held_start, self._held_end = _pyav_chunks(self.path), [], 0, 0
        while self._held_end < stop:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise ValueError(f"Audio file {self.path}: the decoding ended at sample {self._held_end}, "
                                 f"before {stop} (it gave {self.num_samples} samples when opened)")
            self._held.append(chunk[2])
            self._held_end += chunk[2].shape[1]
        while self._held and self._held_start + self._held[0].shape[1] <= start:
            self._held_start += self._held.pop(0).shape[1]
        held = np.concatenate(self._held, axis=1) if len(self._held) != 1 else self._held[0]
        return held[:, start - self._held_start : stop - self._held_start]


def load_audio(path: str) -> tuple[torch.Tensor, int]:
    """Decode ``path``: ``.wav`` files directly (PCM 8/16/24/32-bit, float 32/64-bit), any other
    container's first audio stream through PyAV.

    Returns:
        ``(waveform, sample_rate)``: float32 ``[C, N]`` and the file's rate. PCM is scaled by its
        full scale (int16 / 32768); float samples are kept as stored.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be decoded or holds no audio stream (the message names it).
    """
    if is_wav_path(path):
        samples, sample_rate = read_wav(path)  # raises FileNotFoundError naming the path
    elif not os.path.isfile(path):
        raise FileNotFoundError(f"Audio file not found: {path}")
    else:
        samples, sample_rate = _load_with_pyav(path)
    return torch.from_numpy(np.ascontiguousarray(samples)), sample_rate


# ---------------------------------------------------------------------------------------------
# Resampling (resampy's kaiser_best, in polyphase form)
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _kaiser_best_half_window() -> np.ndarray:
    """resampy's filter table: the right wing of the windowed sinc, ``2**bits`` entries per
    zero crossing, float64 ``[NUM_ZEROS * 2**bits + 1]``."""
    length = P.RESAMPLE_NUM_ZEROS * 2**P.RESAMPLE_PRECISION_BITS
    taper = np.kaiser(2 * length + 1, P.RESAMPLE_KAISER_BETA)[length:]
    positions = np.linspace(0.0, P.RESAMPLE_NUM_ZEROS, length + 1)
    return taper * P.RESAMPLE_ROLLOFF * np.sinc(P.RESAMPLE_ROLLOFF * positions)


def _wing(table: np.ndarray, delta: np.ndarray, index: np.ndarray, step: int) -> np.ndarray:
    """Weights of one filter wing per phase, ``[phases, taps]``: table entries ``offset,
    offset + step, ...`` linearly interpolated by the fractional part of ``index`` (resampy's
    table walk; zero past the table's end)."""
    offset = index.astype(np.int64)
    count = (len(table) - offset) // step
    taps = offset[:, None] + step * np.arange(int(count.max()))
    inside = np.arange(taps.shape[1]) < count[:, None]
    taps = np.where(inside, taps, 0)
    return np.where(inside, table[taps] + (index - offset)[:, None] * delta[taps], 0.0)


# A dense kernel larger than this (rates sharing a small divisor with 16 kHz, e.g. 44101 Hz)
# is applied as a gather of each phase's own taps instead of one convolution.
_MAX_DENSE_KERNEL = 1 << 22


@functools.lru_cache(maxsize=8)
def _phase_taps(orig_freq: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """resampy's ``kaiser_best`` from ``orig_freq`` to 16 kHz, phase by phase.

    resampy computes output sample t at input time ``t * orig / new`` from a walk through its
    table with the stride ``int(scale * 2**bits)`` (truncated, so the effective cutoff depends on
    the rate), the table scaled by ``new / orig`` when downsampling. With ``g = gcd(orig, new)``
    the outputs ``q * new/g + p`` share phase p's taps, placed at input ``q * orig/g + base_p``.

    Returns:
        ``(taps, bases, stride, reach)``: float32 ``[new/g, width]`` whose column j weights input
        ``q * stride + bases[p] - reach + j``; int64 ``[new/g]``; ``orig/g``; the left reach.
    """
    divisor = math.gcd(orig_freq, P.SAMPLE_RATE)
    orig, new = orig_freq // divisor, P.SAMPLE_RATE // divisor
    ratio = P.SAMPLE_RATE / orig_freq
    scale = min(1.0, ratio)
    num_table = 2**P.RESAMPLE_PRECISION_BITS
    table = _kaiser_best_half_window() * (ratio if ratio < 1 else 1.0)
    delta = np.diff(table, append=table[-1])
    step = int(scale * num_table)
    bases, remainders = np.divmod(np.arange(new, dtype=np.int64) * orig, new)
    frac = scale * remainders / new
    left = _wing(table, delta, frac * num_table, step)  # inputs base, base - 1, ...
    right = _wing(table, delta, (scale - frac) * num_table, step)  # inputs base + 1, ...
    reach = left.shape[1] - 1
    taps = np.concatenate([left[:, ::-1], right], axis=1)
    return torch.from_numpy(taps).to(torch.float32), torch.from_numpy(bases), orig, reach


@functools.lru_cache(maxsize=8)
def _dense_kernel(orig_freq: int) -> torch.Tensor | None:
    """The phases' taps as one conv1d kernel ``[new/g, 1, width]`` with stride ``orig/g``, whose
    column 0 weights input ``q * stride - reach``; ``None`` when it would be too large."""
    taps, bases, _, _ = _phase_taps(orig_freq)
    phases, width = taps.shape
    dense_width = int(bases.max()) + width
    if phases * dense_width > _MAX_DENSE_KERNEL:
        return None
    kernel = torch.zeros(phases, dense_width)
    columns = bases[:, None] + torch.arange(width)
    kernel.scatter_(1, columns, taps)
    return kernel[:, None]


def resample_to_vggish_rate(samples: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """float32 ``[N]`` at ``sample_rate`` -> float32 ``[int(N * 16000 / sample_rate)]`` at 16 kHz,
    equal to ``resampy.resample(samples, sample_rate, 16000)`` (default ``kaiser_best``) up to
    float32 rounding; samples outside the signal count as zeros, as in resampy."""
    if sample_rate == P.SAMPLE_RATE:
        return samples
    num_out = _resampled_length(samples.shape[-1], sample_rate)
    if num_out < 1:
        return samples.new_zeros(0)
    return _resampled_range(lambda start, stop: samples[start:stop], samples.shape[-1], int(sample_rate), 0, num_out)


def _resampled_length(num_samples: int, sample_rate: int) -> int:
    return int(num_samples * float(P.SAMPLE_RATE) / float(sample_rate))


def _resampled_range(read, num_samples: int, sample_rate: int, start: int, stop: int) -> torch.Tensor:
    """Output samples ``start:stop`` (``0 <= start < stop``) of :func:`resample_to_vggish_rate`
    for the float32 signal of ``num_samples`` samples whose ranges ``read(i, j)`` gives
    (``0 <= i <= j <= num_samples``), reading only the inputs they depend on.

    Outputs ``q * phases + p`` of a block ``q`` read the inputs from ``q * stride - reach`` on
    (the padded signal's ``q * stride``), so the blocks of ``start:stop`` are computed from that
    stretch alone, zeros standing for samples outside the signal; every output is the same sum
    of the same products as over the whole signal.
    """
    taps, bases, stride, reach = _phase_taps(sample_rate)
    phases, width = taps.shape
    first_block, end_block = start // phases, -(-stop // phases)
    blocks = end_block - first_block
    span = int(bases.max()) + width
    # The padded signal's [first_block * stride, (end_block - 1) * stride + span).
    begin = first_block * stride - reach
    end = begin + (blocks - 1) * stride + span
    inside = read(min(max(0, begin), num_samples), min(max(0, end), num_samples))
    before = min(max(0, -begin), end - begin)
    padded = F.pad(inside, (before, end - begin - before - inside.shape[-1]))
    offset = first_block * phases
    kernel = _dense_kernel(sample_rate)
    if kernel is not None:
        out = F.conv1d(padded[None, None], kernel, stride=stride)[0, :, :blocks]  # [phases, blocks]
        return out.t().reshape(-1)[start - offset : stop - offset]
    # Output t = q * phases + p reads padded[(q - first_block) * stride + bases[p] + j], j < width.
    out = torch.empty(stop - start, dtype=padded.dtype)
    offsets = torch.arange(width)
    for chunk in range(start, stop, 8192):
        t = torch.arange(chunk, min(chunk + 8192, stop))
        phase = t % phases
        first = (t // phases - first_block) * stride + bases[phase]
        out[chunk - start : chunk - start + t.numel()] = (padded[first[:, None] + offsets] * taps[phase]).sum(dim=1)
    return out


# ---------------------------------------------------------------------------------------------
# Log-mel
# ---------------------------------------------------------------------------------------------
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


# The mel bands are computed in this many groups of consecutive bands, each from only the FFT
# bins its bands weigh: the filterbank is banded (each bin feeds at most two bands), so 4 small
# matrix products do a quarter of the dense product's work (measured 0.3 ms of 1.3 ms per 10 s).
_MEL_BAND_GROUPS = 4


@dataclass(frozen=True)
class _MelBandGroup:
    bands: slice  # the group's mel bands
    bins: slice  # the FFT bins that those bands weigh
    weights: np.ndarray  # float32 [bins, bands]


@functools.lru_cache(maxsize=1)
def _stft_constants() -> tuple[torch.Tensor, slice, tuple[_MelBandGroup, ...]]:
    """float32 periodic Hann window zero-padded to ``FFT_LENGTH`` ``[512]``; the FFT bins that
    some mel band weighs (125-7500 Hz: bins 5..239 of 257; the others would only be multiplied
    by zero); the mel weights of those bins in ``_MEL_BAND_GROUPS`` groups of bands, bins
    counted from the first weighed one."""
    window = torch.zeros(P.FFT_LENGTH, dtype=torch.float32)
    window[: P.STFT_WINDOW_LENGTH_SAMPLES] = torch.hann_window(
        P.STFT_WINDOW_LENGTH_SAMPLES, periodic=True, dtype=torch.float32
    )
    weights = mel_filterbank(torch.float32).numpy()
    used = np.flatnonzero(weights.any(axis=1))
    weights = weights[used[0] : used[-1] + 1]
    groups = []
    for bands in np.array_split(np.arange(P.NUM_MEL_BANDS), _MEL_BAND_GROUPS):
        rows = np.flatnonzero(weights[:, bands].any(axis=1))
        band_slice, bin_slice = slice(int(bands[0]), int(bands[-1]) + 1), slice(int(rows[0]), int(rows[-1]) + 1)
        groups.append(_MelBandGroup(band_slice, bin_slice, np.ascontiguousarray(weights[bin_slice, band_slice])))
    return window, slice(int(used[0]), int(used[-1]) + 1), tuple(groups)


def _mix_to_mono(waveform: torch.Tensor) -> torch.Tensor:
    """float ``[N]`` or ``[C, N]`` -> float32 ``[N]``, channels averaged per sample (so a range of
    samples mixes to the same values as the whole track does there).

    Raises:
        ValueError: not a float ``[N]`` or ``[C, N]`` waveform.
    """
    waveform = torch.as_tensor(waveform)
    if waveform.ndim not in (1, 2):
        raise ValueError(f"waveform must be [N] or [C, N], got shape {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise ValueError(f"waveform must be a float tensor in [-1, 1], got dtype {waveform.dtype}")
    samples = waveform.to(torch.float32)
    if samples.ndim == 2:
        samples = samples[0] if samples.shape[0] == 1 else samples.mean(dim=0)
    return samples


def mono_at_vggish_rate(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The first step of :func:`waveform_to_examples`: float ``[N]`` or ``[C, N]`` in [-1, 1] at
    ``sample_rate`` -> float32 ``[M]``, channels averaged, resampled to 16 kHz as resampy's
    kaiser_best (as is at 16 kHz).

    Raises:
        ValueError: not a float ``[N]`` or ``[C, N]`` waveform, or a rate that is not positive.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return resample_to_vggish_rate(_mix_to_mono(waveform), int(sample_rate))


def vggish_rate_reader(
    read: Callable[[int, int], torch.Tensor], num_samples: int, sample_rate: int
) -> tuple[int, Callable[[int, int], torch.Tensor]]:
    """A track read by ranges, at 16 kHz mono and read by ranges.

    Args:
        read: ``(i, j) -> float [C, j - i] or [j - i]``, samples ``i:j`` of the track
            (``0 <= i <= j <= num_samples``).
        num_samples: the track's length at ``sample_rate``.

    Returns:
        ``(length, read_at_rate)``: the length of :func:`mono_at_vggish_rate` of the whole
        track, and ``(i, j) -> float32 [j - i]``, its samples ``i:j`` (``0 <= i <= j <=
        length``), equal to the whole track's (the same sums of the same products) and
        computed from only the input samples they depend on.

    Raises:
        ValueError: a rate that is not positive, or ``read`` does not give float samples
            (checked on an empty range).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    _mix_to_mono(read(0, 0))
    sample_rate = int(sample_rate)
    if sample_rate == P.SAMPLE_RATE:
        return num_samples, lambda i, j: _mix_to_mono(read(i, j))

    def read_at_rate(i: int, j: int) -> torch.Tensor:
        if j <= i:
            return torch.zeros(0, dtype=torch.float32)
        return _resampled_range(lambda a, b: _mix_to_mono(read(a, b)), num_samples, sample_rate, i, j)

    return _resampled_length(num_samples, sample_rate), read_at_rate


def waveform_to_examples(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """VGGish log-mel examples of a waveform.

    Computed in float32 (the published front end uses float64; the log-mel values agree to
    about 1e-5, docs/benchmarks.md). Example k depends only on the 16 kHz samples
    ``[15360 k, 15360 k + 15600)`` (:func:`mono_at_vggish_rate`'s output): those of a range of
    whole examples give the same examples (``tests/audio/test_frame_examples.py``).

    Args:
        waveform: float ``[N]`` or ``[C, N]`` in [-1, 1]; channels are averaged.
        sample_rate: rate of ``waveform`` in Hz; resampled to 16 kHz as resampy's kaiser_best.

    Returns:
        float32 ``[num_examples, 1, 96, 64]``: one example per 0.96 s; a partial last example is
        dropped (0 examples when the audio is shorter than 0.975 s).
    """
    samples = mono_at_vggish_rate(waveform, sample_rate)

    window_length, hop = P.STFT_WINDOW_LENGTH_SAMPLES, P.STFT_HOP_LENGTH_SAMPLES
    num_frames = 1 + (samples.numel() - window_length) // hop if samples.numel() >= window_length else 0
    num_examples = num_frames // P.NUM_FRAMES
    if num_examples == 0:
        return torch.zeros((0, 1, P.NUM_FRAMES, P.NUM_BANDS), dtype=torch.float32)
    # No centring: frame i covers samples [i * hop, i * hop + window_length), zero-padded to the
    # FFT length. Framing FFT_LENGTH samples under a zero-padded window gives the same product
    # without a padding copy per frame (the signal itself is padded only where it ends within the
    # last frame); only the frames of whole examples are transformed.
    window, mel_bins, band_groups = _stft_constants()
    needed = (num_examples * P.NUM_FRAMES - 1) * hop + P.FFT_LENGTH
    signal = samples[:needed]
    if signal.numel() < needed:
        signal = F.pad(signal, (0, needed - signal.numel()))
    spectrum = torch.fft.rfft(signal.unfold(0, P.FFT_LENGTH, hop) * window, dim=1)
    # After the FFT numpy is faster on CPU: its complex magnitude about 10x (torch's is careful
    # about overflow), and its small matmul and in-place log too.
    magnitude = np.abs(spectrum.numpy()[:, mel_bins])
    mel = np.empty((magnitude.shape[0], P.NUM_MEL_BANDS), dtype=np.float32)
    for group in band_groups:
        np.matmul(magnitude[:, group.bins], group.weights, out=mel[:, group.bands])
    mel += P.LOG_OFFSET
    log_mel = torch.from_numpy(np.log(mel, out=mel))
    return log_mel.reshape(num_examples, 1, P.NUM_FRAMES, P.NUM_BANDS)


def silence_log_mel(num_examples: int) -> torch.Tensor:
    """The log-mel examples of silence: ``[num_examples, 1, 96, 64]``.

    Every example of silence is the same, so one is computed and repeated (the examples of
    ``num_examples`` seconds of zeros would be more than ``num_examples`` from 25 s on: 0.96 s
    examples).
    """
    silent = waveform_to_examples(torch.zeros(P.EXAMPLE_SPAN_SAMPLES), P.SAMPLE_RATE)
    return silent.expand(num_examples, -1, -1, -1).contiguous()
