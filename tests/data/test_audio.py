"""The VGGish front end against a straightforward numpy transcription of the published recipe,
and audio decoding of the formats AVSBench-style data comes in."""
from __future__ import annotations

import logging
import struct
import wave

import numpy as np
import pytest
import torch

from ov_avss.data import vggish_params as P
from ov_avss.data.audio import clip_log_mel, load_audio, silence_log_mel, waveform_to_examples


def reference_examples(samples: np.ndarray) -> np.ndarray:
    """Loop-by-loop VGGish log-mel of 16 kHz mono ``samples`` (independent of the package)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    num_frames = 1 + (len(samples) - 400) // 160
    spectrogram = np.zeros((num_frames, 257))
    for i in range(num_frames):
        frame = np.zeros(512)
        frame[:400] = samples[i * 160 : i * 160 + 400] * window
        spectrogram[i] = np.abs(np.fft.rfft(frame))

    def mel(hz):
        return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)

    bin_mels = mel(np.linspace(0, 8000, 257))
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    weights = np.zeros((257, 64))
    for band in range(64):
        low, center, high = edges[band], edges[band + 1], edges[band + 2]
        for b in range(1, 257):  # the DC bin keeps weight 0
            rising = (bin_mels[b] - low) / (center - low)
            falling = (high - bin_mels[b]) / (high - center)
            weights[b, band] = max(0.0, min(rising, falling))
    log_mel = np.log(spectrogram @ weights + 0.01)
    count = 1 + (num_frames - 96) // 96
    return np.stack([log_mel[k * 96 : (k + 1) * 96] for k in range(count)])[:, None]


def write_pcm16(path, samples: np.ndarray, rate: int) -> None:
    """``samples`` ``[N]`` or ``[N, C]`` in [-1, 1] as a 16-bit PCM wav."""
    samples = samples if samples.ndim == 2 else samples[:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes())


def write_float32_wav(path, samples: np.ndarray, rate: int) -> None:
    """``samples`` ``[N, C]`` as an IEEE-float wav (format tag 3)."""
    channels = samples.shape[1]
    data = samples.astype("<f4").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 3, channels, rate, rate * 4 * channels, 4 * channels, 32)
    header += b"data" + struct.pack("<I", len(data))
    with open(path, "wb") as f:
        f.write(header + data)


def test_matches_reference_at_16k():
    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    samples = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t) + 0.05 * rng.standard_normal(t.size)
    ours = waveform_to_examples(torch.from_numpy(samples).float(), 16000)
    expected = reference_examples(samples.astype(np.float32).astype(np.float64))
    assert ours.shape == (3, 1, P.NUM_FRAMES, P.NUM_BANDS) == expected.shape
    assert ours.dtype == torch.float32
    assert np.abs(ours.numpy() - expected).max() < 1e-3


def test_partial_last_example_is_dropped_and_short_input_gives_none():
    assert waveform_to_examples(torch.zeros(16000 * 2 + 8000), 16000).shape[0] == 2
    assert waveform_to_examples(torch.zeros(300), 16000).shape == (0, 1, 96, 64)


def test_stereo_44k_resamples_and_mixes_to_mono():
    rate = 44100
    t = np.arange(2 * rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo = torch.from_numpy(np.stack([tone, tone])).float()
    examples = waveform_to_examples(stereo, rate)
    t16 = np.arange(2 * 16000) / 16000
    expected = reference_examples(0.5 * np.sin(2 * np.pi * 1000 * t16))
    assert examples.shape == (2, 1, 96, 64)
    # The tone's band dominates in both; resampling only perturbs the low-energy bands.
    assert (examples[..., 2:-2, :].mean(dim=(0, 1, 2)).argmax() == torch.from_numpy(expected).mean(dim=(0, 1, 2)).argmax())
    loud = expected > np.log(0.01) + 3
    assert np.abs(examples.numpy()[loud] - expected[loud]).max() < 0.1
    # Channels are averaged: opposite-phase channels cancel to silence.
    cancelled = waveform_to_examples(torch.from_numpy(np.stack([tone, -tone])).float(), rate)
    assert torch.allclose(cancelled, silence_log_mel(2), atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_load_int16_wav(tmp_path, rate):
    path = tmp_path / "a.wav"
    samples = 0.5 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate)
    write_pcm16(path, samples, rate)
    waveform, sample_rate = load_audio(str(path))
    assert sample_rate == rate and waveform.shape == (1, rate) and waveform.dtype == torch.float32
    assert np.abs(waveform[0].numpy() - samples).max() < 1e-3


def test_load_float_stereo_wav(tmp_path):
    path = tmp_path / "f.wav"
    samples = np.stack([np.linspace(-1, 1, 4800), np.zeros(4800)], axis=1).astype(np.float32)
    write_float32_wav(path, samples, 48000)
    waveform, sample_rate = load_audio(str(path))
    assert sample_rate == 48000 and waveform.shape == (2, 4800)
    assert torch.allclose(waveform, torch.from_numpy(samples.T))


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


def test_clip_log_mel_pads_short_audio_with_warning(tmp_path, caplog):
    path = tmp_path / "short.wav"
    write_pcm16(path, 0.5 * np.sin(2 * np.pi * 300 * np.arange(3 * 16000) / 16000), 16000)
    with caplog.at_level(logging.WARNING, logger="ov_avss.data.audio"):
        examples = clip_log_mel(str(path), 5)
    assert examples.shape == (5, 1, 96, 64)
    assert "short.wav" in caplog.text and "zero-padding" in caplog.text
    assert torch.allclose(examples[4], silence_log_mel(1)[0], atol=1e-4)
    assert not torch.allclose(examples[0], silence_log_mel(1)[0], atol=1e-2)


def test_silent_audio_is_log_offset(tmp_path):
    path = tmp_path / "silent.wav"
    write_pcm16(path, np.zeros(5 * 16000), 16000)
    examples = clip_log_mel(str(path), 5)
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
