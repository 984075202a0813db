"""Reference implementations of the published definitions, written from them for
``tools/benchmark.py --compare`` and the tests: none of them calls ``ov_avss``.

- :func:`vggish_examples_reference`: the published VGGish front end (``vggish_input.py`` and
  ``mel_features.py`` of the releases): numpy float64, mono by ``mean(axis=1)``, resampling by
  resampy's ``kaiser_best`` (resampy itself when it is installed, else
  :func:`resample_kaiser_best_reference`), framing by strides, periodic Hann, ``|rfft|``, the mel
  matrix band by band, ``log(mel + 0.01)``, 96-frame examples.
- :func:`resample_kaiser_best_reference`: resampy's resampling loop transcribed in numpy, one
  vectorised step per filter tap over all output samples.
- :func:`avss_metrics_reference`: the OV-AVSS confusion-matrix mIoU and per-frame F, with one
  ``torch.histc`` per frame and quantity as the release's evaluation loop does.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

# The published constants, written here again so that the reference shares nothing with the
# package (vggish_params.py, mel_features.py of the releases; resampy >= 0.3 kaiser_best).
SAMPLE_RATE = 16000
WINDOW_SAMPLES, HOP_SAMPLES, FFT_LENGTH = 400, 160, 512
NUM_MEL_BINS, MEL_MIN_HZ, MEL_MAX_HZ = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96
KAISER_BEST = {"num_zeros": 50, "precision_bits": 13, "rolloff": 0.9173473712608761, "beta": 12.984585272275373}


def kaiser_best_table() -> np.ndarray:
    """The right wing of resampy's kaiser_best windowed sinc, ``2**13`` entries per zero crossing."""
    num_zeros, bits = KAISER_BEST["num_zeros"], KAISER_BEST["precision_bits"]
    n = num_zeros * 2**bits
    sinc = KAISER_BEST["rolloff"] * np.sinc(KAISER_BEST["rolloff"] * np.linspace(0, num_zeros, n + 1))
    return np.kaiser(2 * n + 1, KAISER_BEST["beta"])[n:] * sinc


def resample_kaiser_best_reference(x: np.ndarray, sr_orig: int, sr_new: int = SAMPLE_RATE) -> np.ndarray:
    """``resampy.resample(x, sr_orig, sr_new)`` for 1-D float64 ``x``: output sample t sits at input
    time ``t * sr_orig / sr_new``; its left wing weights inputs ``n, n-1, ...`` and its right wing
    ``n+1, n+2, ...`` with table entries ``offset + i * step`` (``step = int(scale * 2**13)``),
    linearly interpolated; the table is scaled by ``sr_new / sr_orig`` when downsampling."""
    x = np.asarray(x, dtype=np.float64)
    if sr_orig == sr_new:
        return x.copy()
    ratio = float(sr_new) / sr_orig
    num_out = int(x.shape[0] * float(sr_new) / float(sr_orig))
    num_table = 2 ** KAISER_BEST["precision_bits"]
    window = kaiser_best_table() * (ratio if ratio < 1 else 1.0)
    delta = np.diff(window, append=window[-1])
    scale = min(1.0, ratio)
    step = int(scale * num_table)
    time = np.arange(num_out) * (1.0 / ratio)
    base = time.astype(np.int64)
    frac = scale * (time - base)
    y = np.zeros(num_out)
    for wing_frac, direction in ((frac, -1), (scale - frac, 1)):
        index = wing_frac * num_table
        offset = index.astype(np.int64)
        eta = index - offset
        count = (len(window) - offset) // step
        for i in range(int(count.max())):
            source = base - i if direction < 0 else base + 1 + i
            use = (i < count) & (source >= 0) & (source < x.shape[0])
            taps = offset[use] + i * step
            y[use] += (window[taps] + eta[use] * delta[taps]) * x[source[use]]
    return y


def _resample(x: np.ndarray, sr_orig: int, use_resampy: bool) -> np.ndarray:
    if use_resampy:
        import resampy

        return resampy.resample(x, sr_orig, SAMPLE_RATE)
    return resample_kaiser_best_reference(x, sr_orig)


def resampy_available() -> bool:
    try:
        import resampy  # noqa: F401
    except ImportError:
        return False
    return True


def _hz_to_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)


def mel_matrix() -> np.ndarray:
    """``[257, 64]``: triangles in the mel domain, DC row 0 (mel_features.spectrogram_to_mel_matrix)."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT_LENGTH // 2 + 1))
    edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), NUM_MEL_BINS + 2)
    weights = np.empty((FFT_LENGTH // 2 + 1, NUM_MEL_BINS))
    for band in range(NUM_MEL_BINS):
        lower, center, upper = edges[band : band + 3]
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def _frame(data: np.ndarray, window: int, hop: int) -> np.ndarray:
    count = 1 + (data.shape[0] - window) // hop
    shape = (count, window) + data.shape[1:]
    strides = (data.strides[0] * hop,) + data.strides
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides)


def vggish_examples_reference(data: np.ndarray, sample_rate: int, use_resampy: bool | None = None) -> np.ndarray:
    """Published ``waveform_to_examples``: ``data`` ``[N]`` or ``[N, C]`` -> ``[K, 96, 64]`` float64.

    ``use_resampy``: ``None`` uses resampy when it is installed, else the numpy transcription.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim > 1:
        data = np.mean(data, axis=1)
    if sample_rate != SAMPLE_RATE:
        data = _resample(data, sample_rate, resampy_available() if use_resampy is None else use_resampy)
    if data.shape[0] < WINDOW_SAMPLES:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL_BINS))
    window = 0.5 - 0.5 * np.cos(2 * np.pi / WINDOW_SAMPLES * np.arange(WINDOW_SAMPLES))  # periodic Hann
    spectrogram = np.abs(np.fft.rfft(_frame(data, WINDOW_SAMPLES, HOP_SAMPLES) * window, FFT_LENGTH))
    log_mel = np.log(spectrogram @ mel_matrix() + LOG_OFFSET)
    if log_mel.shape[0] < EXAMPLE_FRAMES:
        return np.zeros((0, EXAMPLE_FRAMES, NUM_MEL_BINS))
    return np.ascontiguousarray(_frame(log_mel, EXAMPLE_FRAMES, EXAMPLE_FRAMES))


# ---------------------------------------------------------------------------------------------
# Evaluator
# ---------------------------------------------------------------------------------------------
def _histc(values: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Pixel count per label 0..num_labels-1 (bins centred on the integers)."""
    return torch.histc(values.float(), bins=num_labels, min=-0.5, max=num_labels - 0.5).double()


def avss_metrics_reference(
    frames: Iterable[tuple[torch.Tensor, torch.Tensor]], num_labels: int = 71, ignore_label: int = 255, beta2: float = 0.3
) -> dict[str, float]:
    """OV-AVSS mIoU and F of ``(prediction, ground_truth)`` label maps ``[H, W]``, frame by frame.

    Confusion matrix: ``histc`` of ``gt * L + pred`` over the pixels whose ground truth is not
    ``ignore_label``. IoU per label from the summed matrix, mean over labels present in the
    prediction or the ground truth. F per label and frame from that frame's TP / predicted /
    true counts (``histc`` each), 0 where undefined; averaged over the frames where the label
    occurs; F_score = mean over labels that occur at all.
    """
    confusion = torch.zeros(num_labels * num_labels, dtype=torch.float64)
    f_sum = torch.zeros(num_labels, dtype=torch.float64)
    f_frames = torch.zeros(num_labels, dtype=torch.float64)
    for prediction, ground_truth in frames:
        valid = ground_truth != ignore_label
        gt, pred = ground_truth[valid].long(), prediction[valid].long()
        confusion += _histc(gt * num_labels + pred, num_labels * num_labels)
        true_positive = _histc(pred[pred == gt], num_labels)
        predicted, actual = _histc(pred, num_labels), _histc(gt, num_labels)
        precision, recall = true_positive / predicted, true_positive / actual
        f = (1 + beta2) * precision * recall / (beta2 * precision + recall)
        f[torch.isnan(f)] = 0.0
        occurs = (predicted + actual) > 0
        f_sum += torch.where(occurs, f, torch.zeros_like(f))
        f_frames += occurs.double()
    confusion = confusion.view(num_labels, num_labels)
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    occurs = f_frames > 0
    return {
        "mIoU": float((tp[present] / union[present]).mean()) if present.any() else 0.0,
        "F_score": float((f_sum[occurs] / f_frames[occurs]).mean()) if occurs.any() else 0.0,
    }
