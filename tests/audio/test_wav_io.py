"""Reading RIFF/WAVE files directly: the encodings AVSBench-style audio comes in, header
layouts other writers produce, and broken files."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from ov_avss.audio.wav_io import WavFormatError, is_wav_path, read_wav, read_wav_frames, read_wav_info
from wav_files import write_wav


def _tone(num_frames: int, channels: int = 1) -> np.ndarray:
    t = np.arange(num_frames)
    columns = [0.8 * np.sin(2 * np.pi * (0.01 + 0.013 * c) * t) for c in range(channels)]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("encoding", ["pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64"])
@pytest.mark.parametrize("channels", [1, 2])
def test_decodes_every_encoding(tmp_path, encoding, channels):
    path = tmp_path / f"{encoding}.wav"
    expected = write_wav(path, _tone(1001, channels), 22050, encoding)
    samples, rate = read_wav(str(path))
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (channels, 1001)
    # float32 holds 24 significant bits: PCM up to 24 bits and float32 come back exactly.
    tolerance = 1e-7 if encoding in ("pcm32", "float64") else 0.0
    assert np.abs(samples - expected).max() <= tolerance


@pytest.mark.parametrize("encoding", ["pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64"])
def test_a_range_of_samples_is_the_whole_files_columns(tmp_path, encoding):
    """What the demo reads window by window: the same values as the whole file, only those
    bytes read; ranges past either end are clipped."""
    path = tmp_path / f"{encoding}.wav"
    write_wav(path, _tone(1001, 2), 16000, encoding, extra_chunks=((b"LIST", b"abc"),))
    whole, _ = read_wav(str(path))
    info = read_wav_info(str(path))
    for start, stop in ((0, 1001), (0, 1), (17, 400), (1000, 1001), (-5, 3), (990, 2000), (500, 500), (1200, 1300)):
        samples = read_wav_frames(str(path), info, start, stop)
        assert samples.dtype == np.float32
        assert np.array_equal(samples, whole[:, max(0, start):stop]), (start, stop)


def test_a_range_past_a_shortened_file_is_named(tmp_path):
    path = tmp_path / "changed.wav"
    write_wav(path, _tone(1000), 16000, "pcm16")
    info = read_wav_info(str(path))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(WavFormatError, match=r"changed\.wav: samples 900\.\.1000"):
        read_wav_frames(str(path), info, 900, 1000)


def test_int16_matches_the_standard_library_writer(tmp_path):
    path = tmp_path / "std.wav"
    ints = np.array([[0, 1], [-32768, 32767], [123, -456]], dtype="<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(ints.tobytes())
    samples, _ = read_wav(str(path))
    np.testing.assert_array_equal(samples, ints.T / 32768.0)


def test_float_wav_keeps_values_beyond_int16_resolution(tmp_path):
    """A float wav is decoded as float: values between int16 steps and above full scale survive."""
    path = tmp_path / "f.wav"
    values = np.array([1e-6, -3.3e-5, 0.123456789, 1.5], dtype=np.float32)
    write_wav(path, values, 48000, "float32")
    samples, _ = read_wav(str(path))
    np.testing.assert_array_equal(samples[0], values)


def test_extensible_format_and_extra_chunks(tmp_path):
    path = tmp_path / "ext.wav"
    # An odd-sized chunk (padded to even) and a LIST chunk between fmt and data, as editors write.
    expected = write_wav(
        path, _tone(300, 2), 44100, "pcm24", extensible=True,
        extra_chunks=((b"odd ", b"xyz"), (b"LIST", b"INFOISFT\x06\x00\x00\x00Lavf5\x00")),
    )
    info = read_wav_info(str(path))
    assert (info.sample_rate, info.num_channels, info.num_frames) == (44100, 2, 300)
    assert (info.sample_format, info.bits_per_sample) == ("int", 24)
    assert info.duration_s == pytest.approx(300 / 44100)
    samples, _ = read_wav(str(path))
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_streamed_size_reads_to_the_end_of_the_file(tmp_path):
    path = tmp_path / "streamed.wav"
    expected = write_wav(path, _tone(200), 16000, "pcm16", data_size=0xFFFFFFFF)
    samples, _ = read_wav(str(path))
    assert samples.shape == (1, 200)
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "cut.wav"
    write_wav(path, _tone(1000), 16000, "pcm16")
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(WavFormatError, match=r"cut\.wav.*truncated.*2000 bytes.*1500"):
        read_wav(str(path))
    with pytest.raises(WavFormatError, match=r"cut\.wav.*truncated"):
        read_wav_info(str(path))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not a RIFF/WAVE file"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no 'data' chunk"),
        (b"RIFF\x10\x00\x00\x00WAVEdata\x00\x00\x00\x00", "'data' chunk before the 'fmt ' chunk"),
    ],
)
def test_malformed_headers_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavFormatError, match=rf"bad\.wav.*{message}"):
        read_wav(str(path))


def test_unsupported_encoding_and_missing_file(tmp_path):
    path = tmp_path / "alaw.wav"
    write_wav(path, _tone(10), 8000, "pcm16")
    raw = bytearray(path.read_bytes())
    raw[20:22] = (6).to_bytes(2, "little")  # A-law
    path.write_bytes(bytes(raw))
    with pytest.raises(WavFormatError, match=r"alaw\.wav.*format tag 0x0006"):
        read_wav(str(path))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        read_wav(str(tmp_path / "missing.wav"))
    assert is_wav_path("a/B.WAV") and not is_wav_path("a/b.mp4")
