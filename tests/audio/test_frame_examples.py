"""The audio examples for video frame times: the dataset's pairing (example k for second k of
the video, examples from the whole file), its padding rules, and the VGGish front end's
registration."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ov_avss.audio import (
    AUDIO_FRONT_END_REGISTRY,
    VGGISH_FRONT_END,
    AudioTrackExamples,
    TrackExamplesOnDemand,
    audio_examples_for_frames,
    audio_front_end,
    example_indices,
)
from ov_avss.audio.log_mel import StreamedAudio, load_audio, silence_log_mel, waveform_to_examples
from wav_files import write_wav


def _signal(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """``[N, C]`` noise plus a tone, different in every example."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    columns = [0.3 * np.sin(2 * np.pi * (300 + 100 * c) * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)
               for c in range(channels)]
    return np.clip(np.stack(columns, axis=1), -1, 1)


def _file_examples(path) -> torch.Tensor:
    waveform, rate = load_audio(str(path))
    return waveform_to_examples(waveform, rate)


def test_frame_t_gets_example_t_of_the_whole_file(tmp_path):
    """Examples come from the whole file (the resampler near a cut sees the audio after it) and
    the frame at t s gets example t, whichever frames a window holds."""
    path = tmp_path / "long.wav"
    write_wav(path, _signal(4.2, 44100, channels=2), 44100, "pcm16")
    own = _file_examples(path)
    assert own.shape[0] == 4
    assert torch.equal(audio_examples_for_frames(str(path), [0, 1]), own[:2])
    assert torch.equal(audio_examples_for_frames(str(path), [3, 1, 1]), own[[3, 1, 1]])
    # Times within a second go with that second's example; index / fps just below it too.
    assert example_indices([0.0, 0.5, 0.999, 1.0, 3 * (1 / 3), 29.97 / 29.97, 2.9999999999]).tolist() == [0, 0, 0, 1, 1, 1, 3]
    assert torch.equal(audio_examples_for_frames(str(path), np.arange(8) / 2), own[[0, 0, 1, 1, 2, 2, 3, 3]])
    # Frames taking exactly the track's examples (1 fps, as long as the audio) get them all.
    assert torch.equal(audio_examples_for_frames(str(path), range(4)), own)
    track = AudioTrackExamples.from_file(str(path))
    window = track.for_frames(range(4))
    window.zero_()  # the kept track's examples are not the caller's to change
    assert torch.equal(track.for_frames(range(4)), own)


def test_short_audio_padding_modes(tmp_path, caplog):
    """3.5 s of audio for a 5 s video gives 3 whole examples; the releases complete them with
    zero examples (OV-AVSS, AVSS) or by repeating the last one (S4/MS3 preprocessing)."""
    path = tmp_path / "short.wav"
    write_wav(path, _signal(3.5, 16000), 16000, "pcm16")
    own = _file_examples(path)
    assert own.shape[0] == 3
    with caplog.at_level(logging.WARNING, logger="ov_avss.audio.frame_examples"):
        zeros = audio_examples_for_frames(str(path), range(5))
    assert "short.wav" in caplog.text and "zero examples" in caplog.text
    assert zeros.shape == (5, 1, 96, 64)
    assert torch.equal(zeros[:3], own)
    assert torch.count_nonzero(zeros[3:]) == 0
    repeated = audio_examples_for_frames(str(path), range(5), padding="repeat_last")
    assert torch.equal(repeated[:3], own)
    assert torch.equal(repeated[3:], own[[2, 2]])
    # A window after the audio's end is padded the same way.
    assert torch.equal(audio_examples_for_frames(str(path), [4, 2], padding="repeat_last"), own[[2, 2]])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ov_avss.audio.frame_examples"):
        audio_examples_for_frames(str(path), [0, 2])
    assert caplog.text == "", "frames within the audio need no padding"
    with pytest.raises(ValueError, match="padding 'edge'"):
        audio_examples_for_frames(str(path), range(5), padding="edge")


def test_repeat_last_needs_one_example(tmp_path):
    path = tmp_path / "tiny.wav"
    write_wav(path, np.zeros(8000), 16000, "pcm16")
    with pytest.raises(ValueError, match=r"tiny\.wav lasts 0\.500 s"):
        audio_examples_for_frames(str(path), range(5), padding="repeat_last")
    assert torch.count_nonzero(audio_examples_for_frames(str(path), range(5))) == 0


def test_bad_frame_times_are_named(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, _signal(1.0, 16000), 16000, "pcm16")
    for bad in ([-0.5], [float("nan")]):
        with pytest.raises(ValueError, match="Frame times must be finite and >= 0"):
            audio_examples_for_frames(str(path), bad)


def test_track_from_waveform_equals_track_from_its_file(tmp_path):
    path = tmp_path / "a.wav"
    decoded = write_wav(path, _signal(2.5, 22050), 22050, "pcm16")  # [C, N]
    track = AudioTrackExamples.from_waveform(torch.from_numpy(decoded).float(), 22050, "decoded")
    assert track.duration_s == pytest.approx(2.5, abs=1e-4)
    assert torch.equal(track.for_frames([0, 1]), audio_examples_for_frames(str(path), [0, 1]))


@pytest.mark.parametrize(
    "rate, channels, encoding",
    [(16000, 1, "pcm16"), (16000, 2, "float32"), (44100, 2, "pcm16"), (22050, 1, "pcm24"), (8000, 1, "pcm8"),
     (44101, 1, "pcm16")],
)
def test_examples_on_demand_equal_the_whole_tracks(tmp_path, rate, channels, encoding):
    """Example k depends only on its own 0.975 s of 16 kHz samples (its 96 STFT frames of
    400 samples every 160; the last frame's FFT reads 112 samples past them, under the window's
    zero padding), so the examples computed per window, from just their samples, equal the
    whole track's bit for bit. The resampler's outputs are sums over their own input samples, so
    a wav at another rate is read by ranges too, each resampled from just the samples it depends
    on (44101 Hz: the resampler's gather path). A window of all 23 frames is computed 16
    examples per front-end call."""
    path = tmp_path / "track.wav"
    write_wav(path, _signal(20.5, rate, channels), rate, encoding)
    whole = AudioTrackExamples.from_file(str(path))
    on_demand = TrackExamplesOnDemand.from_file(str(path))
    assert on_demand.num_examples == whole.examples.shape[0] == 21
    times = np.arange(23, dtype=np.float64)  # the last 2 frames are past the track's end
    for padding in ("zero_examples", "repeat_last"):
        expected = whole.for_frames(times, padding)
        for window in (1, 3, 5, 23):
            windows = [on_demand.for_frames(times[s:s + window], padding) for s in range(0, 23, window)]
            assert torch.equal(torch.cat(windows), expected), (padding, window)
    # Frames at 2 fps share examples; any order, gaps and repeats.
    assert torch.equal(on_demand.for_frames(np.arange(8) / 2), whole.for_frames(np.arange(8) / 2))
    assert torch.equal(on_demand.for_frames([9, 2, 2, 3, 11, 0]), whole.examples[[9, 2, 2, 3, 11, 0]])
    assert on_demand.for_frames([]).shape == (0, 1, 96, 64)
    # A decoded track (as a video's, through PyAV) is resampled whole once.
    waveform, file_rate = load_audio(str(path))
    from_waveform = TrackExamplesOnDemand.from_waveform(waveform, file_rate, "decoded")
    assert torch.equal(from_waveform.for_frames(times), whole.for_frames(times))
    waveform.zero_()  # the track keeps its own samples
    assert torch.equal(from_waveform.for_frames(times), whole.for_frames(times))


def test_examples_on_demand_of_a_compressed_track(tmp_path):
    """An AAC track (44.1 kHz stereo in an m4a, decoded by PyAV) is decoded going forward by
    ranges (``StreamedAudio``: the same samples as ``load_audio``'s, a range before what it
    holds decodes again from the start); its examples per window equal the whole track's."""
    import av

    path = tmp_path / "track.m4a"
    rate = 44100
    samples = np.ascontiguousarray(_signal(9.5, rate, channels=2).T.astype(np.float32))
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo")
        for start in range(0, samples.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 4096]), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    waveform, _ = load_audio(str(path))
    streamed = StreamedAudio(str(path))
    assert (streamed.sample_rate, streamed.num_channels, streamed.num_samples) == (rate, 2, waveform.shape[1])
    for start, stop in ((0, 0), (0, 5000), (4000, 4100), (100_000, 200_000), (300, 400), (0, waveform.shape[1])):
        assert np.array_equal(streamed.read(start, stop), waveform[:, start:stop].numpy()), (start, stop)
    whole = AudioTrackExamples.from_file(str(path))
    on_demand = TrackExamplesOnDemand.from_file(str(path))
    assert on_demand.num_examples == whole.examples.shape[0] == 9
    times = np.arange(10, dtype=np.float64)
    windows = [on_demand.for_frames(times[s:s + 3]) for s in range(0, 10, 3)]
    assert torch.equal(torch.cat(windows), whole.for_frames(times))
    assert torch.equal(on_demand.for_frames([2, 0]), whole.examples[[2, 0]])  # back to the start


def test_examples_on_demand_pad_and_warn_as_the_whole_tracks(tmp_path, caplog):
    path = tmp_path / "short.wav"
    write_wav(path, _signal(3.5, 16000), 16000, "pcm16")
    own = _file_examples(path)
    track = TrackExamplesOnDemand.from_file(str(path))
    with caplog.at_level(logging.WARNING, logger="ov_avss.audio.frame_examples"):
        zeros = track.for_frames(range(5))
    assert "short.wav gives 3 log-mel examples for frames up to 4 s; padding with zero examples" in caplog.text
    assert torch.equal(zeros[:3], own) and torch.count_nonzero(zeros[3:]) == 0
    assert torch.equal(track.for_frames([4, 2], "repeat_last"), own[[2, 2]])
    with pytest.raises(ValueError, match="padding 'edge'"):
        track.for_frames([0], "edge")
    tiny = tmp_path / "tiny.wav"
    write_wav(tiny, np.zeros(8000), 16000, "pcm16")
    with pytest.raises(ValueError, match=r"tiny\.wav lasts 0\.500 s"):
        TrackExamplesOnDemand.from_file(str(tiny)).for_frames(range(2), "repeat_last")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        TrackExamplesOnDemand.from_file(str(tmp_path / "missing.wav"))


@pytest.mark.parametrize("num_examples", [0, 1, 5, 30])
def test_silence_is_the_examples_of_zeros(num_examples):
    """Any number of examples (the examples of 30 s of zeros would be 31: 0.96 s examples)."""
    silence = silence_log_mel(num_examples)
    assert silence.shape == (num_examples, 1, 96, 64)
    zeros = waveform_to_examples(torch.zeros(num_examples * VGGISH_FRONT_END.example_hop_samples + 240), 16000)
    torch.testing.assert_close(silence, zeros)
    assert torch.equal(VGGISH_FRONT_END.silence(num_examples), silence)


def test_vggish_front_end_is_registered_for_its_encoder():
    assert audio_front_end("VGGish") is VGGISH_FRONT_END
    assert VGGISH_FRONT_END.sample_rate == 16000 and VGGISH_FRONT_END.example_shape == (1, 96, 64)
    assert VGGISH_FRONT_END.example_hop_seconds == pytest.approx(0.96)
    assert VGGISH_FRONT_END.example_span_samples == 15600  # 0.975 s
    with pytest.raises(KeyError, match="MODEL.AUDIO.NAME = 'PANNs'"):
        audio_front_end("PANNs")
    with pytest.raises(KeyError, match="'VGGish' is already registered"):
        AUDIO_FRONT_END_REGISTRY.register(VGGISH_FRONT_END, name="VGGish")
    assert VGGISH_FRONT_END.embedding_dim == 128  # takes AVISeg's precomputed VGGish embeddings
