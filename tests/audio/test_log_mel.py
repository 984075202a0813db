"""The VGGish front end against the published definition (a numpy transcription built from the
published constants in tools/benchmark_reference.py, and resampy itself where installed), and
audio decoding of the formats AVSBench-style data comes in."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ov_avss.audio import audio_examples_for_frames, vggish_params as P
from ov_avss.audio.log_mel import load_audio, resample_to_vggish_rate, silence_log_mel, waveform_to_examples
from wav_files import write_wav

sys.path.append(str(Path(__file__).resolve().parents[2] / "tools"))
import benchmark_reference as reference  # noqa: E402


def _test_signal(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    """``[N, C]``: noise, a chirp over the whole band and tones near the mel range's top."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    top = min(rate / 2, 9000.0)
    chirp = 0.3 * np.sin(2 * np.pi * (60 * t + (top - 60) * t**2 / (2 * seconds)))
    columns = []
    for c in range(channels):
        tones = 0.15 * np.sin(2 * np.pi * (7300 - 3000 * c) * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
        columns.append(chirp + tones + 0.05 * rng.standard_normal(t.size))
    return np.clip(np.stack(columns, axis=1), -1, 1)


def test_matches_reference_at_16k():
    samples = _test_signal(3.0, 16000, 1)[:, 0]
    ours = waveform_to_examples(torch.from_numpy(samples).float(), 16000)
    expected = reference.vggish_examples_reference(samples.astype(np.float32), 16000)[:, None]
    assert ours.shape == (3, 1, P.NUM_FRAMES, P.NUM_BANDS) == expected.shape
    assert ours.dtype == torch.float32
    assert np.abs(ours.numpy() - expected).max() < 1e-3


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("encoding", ["pcm16", "float32"])
def test_wav_files_match_the_published_front_end(tmp_path, rate, channels, encoding):
    """The issue's contract: log-mel within 1e-2 of the published front end (resampy kaiser_best
    resampling) for int16 and float32 wavs, mono and stereo, at the rates AVSBench audio has."""
    path = tmp_path / "a.wav"
    decoded = write_wav(path, _test_signal(1.1, rate, channels), rate, encoding)  # [C, N]
    examples = audio_examples_for_frames(str(path), [0])
    expected = reference.vggish_examples_reference(decoded.T, rate, use_resampy=False)[:1, None]
    assert examples.shape == expected.shape == (1, 1, 96, 64)
    assert np.abs(examples.numpy() - expected).max() < 1e-2


@pytest.mark.slow
@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 44101])
def test_resampling_equals_resampy_kaiser_best(rate):
    """resampy itself (installed only for this cross-check, not a dependency): our polyphase
    resampler and the test's numpy transcription both equal it."""
    resampy = pytest.importorskip("resampy")
    x = _test_signal(1.3, rate, 1, seed=rate)[:, 0]
    expected = resampy.resample(x, rate, 16000)
    ours = resample_to_vggish_rate(torch.from_numpy(x).float(), rate).double().numpy()
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() < 2e-6  # float32 rounding
    assert np.abs(reference.resample_kaiser_best_reference(x, rate) - expected).max() < 1e-9


def test_resampled_length_and_band_limit():
    rate = 44100
    t = np.arange(rate) / rate
    # 9 kHz is above the 16 kHz Nyquist frequency: kaiser_best removes it.
    high = torch.from_numpy(0.5 * np.sin(2 * np.pi * 9000 * t)).float()
    out = resample_to_vggish_rate(high, rate)
    assert out.shape == (16000,) and out.dtype == torch.float32
    assert out[1000:-1000].abs().max() < 1e-4
    low = torch.from_numpy(0.5 * np.sin(2 * np.pi * 1000 * t)).float()
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.abs(resample_to_vggish_rate(low, rate)[1000:-1000].numpy() - expected[1000:-1000]).max() < 1e-3


def test_partial_last_example_is_dropped_and_short_input_gives_none():
    assert waveform_to_examples(torch.zeros(16000 * 2 + 8000), 16000).shape[0] == 2
    assert waveform_to_examples(torch.zeros(300), 16000).shape == (0, 1, 96, 64)
    assert waveform_to_examples(torch.zeros(100), 44100).shape == (0, 1, 96, 64)


def test_stereo_is_mixed_to_mono():
    rate = 44100
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(2 * rate) / rate)
    stereo = torch.from_numpy(np.stack([tone, tone])).float()
    assert torch.allclose(waveform_to_examples(stereo, rate), waveform_to_examples(stereo[0], rate), atol=1e-5)
    # Opposite-phase channels cancel to silence.
    cancelled = waveform_to_examples(torch.from_numpy(np.stack([tone, -tone])).float(), rate)
    assert torch.allclose(cancelled, silence_log_mel(2), atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_load_int16_wav(tmp_path, rate):
    path = tmp_path / "a.wav"
    expected = write_wav(path, 0.5 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate), rate, "pcm16")
    waveform, sample_rate = load_audio(str(path))
    assert sample_rate == rate and waveform.shape == (1, rate) and waveform.dtype == torch.float32
    np.testing.assert_array_equal(waveform.numpy(), expected.astype(np.float32))


def test_float_wav_is_decoded_as_float(tmp_path):
    """Audio quieter than one int16 step is silence when read as int16, not when read as float."""
    path = tmp_path / "quiet.wav"
    quiet = 1e-5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    write_wav(path, quiet, 16000, "float32")
    waveform, _ = load_audio(str(path))
    assert torch.allclose(waveform[0].double(), torch.from_numpy(quiet), atol=1e-9)
    examples = audio_examples_for_frames(str(path), [0])
    assert (examples - silence_log_mel(1)).max() > 0.05


def test_load_m4a(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "a.m4a"
    rate = 16000
    samples = (0.3 * np.sin(2 * np.pi * 500 * np.arange(2 * rate) / rate)).astype(np.float32)
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    waveform, sample_rate = load_audio(str(path))
    assert sample_rate == rate and waveform.shape[0] == 1
    assert abs(waveform.shape[1] - 2 * rate) < 4096
    assert waveform.abs().max() > 0.2


def test_silent_audio_is_log_offset(tmp_path):
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros(5 * 16000), 16000, "pcm16")
    examples = audio_examples_for_frames(str(path), range(5))
    assert torch.allclose(examples, torch.full_like(examples, float(np.log(P.LOG_OFFSET))))


def test_unreadable_audio_names_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF this is not a wav file at all")
    with pytest.raises(ValueError, match="corrupt.wav"):
        load_audio(str(corrupt))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        load_audio(str(tmp_path / "missing.wav"))
    with pytest.raises(ValueError, match=r"\[N\] or \[C, N\]"):
        waveform_to_examples(torch.zeros(1, 2, 3), 16000)
