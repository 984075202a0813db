"""``RecordAudio``: a record's audio input for its frame times, from the front end named by
``MODEL.AUDIO.NAME`` or the record's precomputed embeddings, with the dataset's padding and the
zero / shuffle ablations (the shuffle donor padded as its own audio would be)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import TEST_AUDIO_ENCODER, rms_per_second
from ov_avss.audio import RecordAudio, audio_donors
from ov_avss.config import get_cfg
from ov_avss.audio.log_mel import load_audio, silence_log_mel, waveform_to_examples
from wav_files import write_wav

def _signal(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return np.clip(0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t * (1 + t)) + 0.05 * rng.standard_normal(t.size), -1, 1)


def _record(tmp_path, name: str, audio_seconds: float, num_frames: int, seed: int, embeddings=None) -> dict:
    path = tmp_path / f"{name}.wav"
    write_wav(path, _signal(audio_seconds, seed), 16000, "pcm16")
    record = {
        "uid": name, "dataset_name": "test", "frame_paths": [f"{name}/{t}.jpg" for t in range(num_frames)],
        "frame_times": [float(t) for t in range(num_frames)], "num_frames": num_frames,
        "audio_path": str(path), "audio_embedding_paths": {},
    }
    if embeddings is not None:
        npy = tmp_path / f"{name}.npy"
        np.save(npy, embeddings)
        record["audio_embedding_paths"] = {"VGGish": str(npy)}
    return record


def _vggish_examples(path: str) -> torch.Tensor:
    waveform, rate = load_audio(path)
    return waveform_to_examples(waveform, rate)


def test_own_audio_is_the_examples_at_the_frame_times(tmp_path):
    record = _record(tmp_path, "a", 5.2, 5, seed=0)
    own = _vggish_examples(record["audio_path"])
    assert own.shape[0] == 5
    audio = RecordAudio("VGGish", "zero_examples")
    assert torch.equal(audio(record, range(5)), own)
    assert torch.equal(audio(record, [3, 1]), own[[3, 1]])
    # Frame times, not indices, pick the examples: frames at 2 fps.
    half = dict(record, frame_times=[t / 2 for t in range(5)])
    assert torch.equal(audio(half, range(5)), own[[0, 0, 1, 1, 2]])


def test_padding_is_the_datasets(tmp_path):
    record = _record(tmp_path, "short", 3.2, 5, seed=1)  # 3 whole examples for 5 frames
    own = _vggish_examples(record["audio_path"])
    assert own.shape[0] == 3
    repeated = RecordAudio("VGGish", "repeat_last")(record, range(5))
    zeros = RecordAudio("VGGish", "zero_examples")(record, range(5))
    assert torch.equal(repeated, own[[0, 1, 2, 2, 2]])
    assert torch.equal(zeros[:3], own) and not zeros[3:].any()
    with pytest.raises(ValueError, match="Audio padding 'loop'"):
        RecordAudio("VGGish", "loop")


@pytest.mark.parametrize("padding", ["repeat_last", "zero_examples"])
def test_shuffle_donor_is_padded_as_its_own_audio(tmp_path, padding):
    """A 5-frame video given a donor with 3.2 s of audio: the donor's examples padded with the
    dataset's padding (repeat-last on S4/MS3), exactly the donor's own audio."""
    video = _record(tmp_path, "video", 5.2, 5, seed=2)
    donor = _record(tmp_path, "donor", 3.2, 5, seed=3)
    shuffled = RecordAudio("VGGish", padding, "shuffle")(video, range(5), donor)
    own_of_donor = RecordAudio("VGGish", padding)(donor, range(5))
    assert torch.equal(shuffled, own_of_donor)
    donor_examples = _vggish_examples(donor["audio_path"])
    expected_fill = donor_examples[2] if padding == "repeat_last" else torch.zeros_like(donor_examples[2])
    assert torch.equal(shuffled[4], expected_fill)
    # A shorter donor is repeated to cover the frames; a window takes the donor's same positions.
    three = _record(tmp_path, "three", 3.2, 3, seed=4)
    assert torch.equal(
        RecordAudio("VGGish", padding, "shuffle")(video, [3, 4], three),
        RecordAudio("VGGish", padding)(three, [0, 1]),
    )
    with pytest.raises(ValueError, match="test video: TEST.AUDIO_ABLATION 'shuffle' needs the record"):
        RecordAudio("VGGish", padding, "shuffle")(video, range(5))


def test_zero_ablation_is_silence(tmp_path):
    record = _record(tmp_path, "a", 5.2, 5, seed=0)
    assert torch.equal(RecordAudio("VGGish", "zero_examples", "zero")(record, range(4)), silence_log_mel(4))
    with_embeddings = _record(tmp_path, "b", 5.2, 5, seed=0, embeddings=np.ones((5, 128), np.float32))
    assert torch.equal(RecordAudio("VGGish", "zero_examples", "zero")(with_embeddings, range(4)), torch.zeros(4, 128))
    # Another encoder's silence, even where the record ships VGGish embeddings.
    assert torch.equal(RecordAudio(TEST_AUDIO_ENCODER, "zero_examples", "zero")(with_embeddings, range(3)), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="TEST.AUDIO_ABLATION = 'mute'"):
        RecordAudio("VGGish", "zero_examples", "mute")


def test_precomputed_embeddings_for_the_named_encoder_only(tmp_path):
    embeddings = np.random.default_rng(0).standard_normal((7, 128)).astype(np.float32)
    record = _record(tmp_path, "a", 5.2, 5, seed=0, embeddings=embeddings)
    vggish = RecordAudio("VGGish", "zero_examples")
    assert vggish.uses_embeddings(record)
    assert np.array_equal(vggish(record, range(5)).numpy(), embeddings[:5])
    assert np.array_equal(vggish(record, [4, 2]).numpy(), embeddings[[4, 2]])
    # Another encoder computes its own examples from the wav, ignoring VGGish's embeddings.
    other = RecordAudio(TEST_AUDIO_ENCODER, "zero_examples")
    assert not other.uses_embeddings(record)
    waveform, rate = load_audio(record["audio_path"])
    torch.testing.assert_close(other(record, range(5)), rms_per_second(waveform, rate)[:5])
    np.save(record["audio_embedding_paths"]["VGGish"], embeddings[:, :64])
    with pytest.raises(ValueError, match=r"a\.npy: expected \[T, 128\]"):
        vggish(record, range(5))
    np.save(record["audio_embedding_paths"]["VGGish"], embeddings[:3])
    with pytest.raises(ValueError, match="3 embeddings for frames up to second 4"):
        vggish(record, range(5))


def test_stereo_with_equal_channels_gives_the_mono_examples(tmp_path):
    mono = _record(tmp_path, "mono", 4.2, 4, seed=5)
    stereo_path = tmp_path / "stereo.wav"
    signal = _signal(4.2, 5)
    write_wav(stereo_path, np.stack([signal, signal], axis=1), 16000, "pcm16")
    stereo = dict(mono, audio_path=str(stereo_path))
    audio = RecordAudio("VGGish", "zero_examples")
    torch.testing.assert_close(audio(stereo, range(4)), audio(mono, range(4)), atol=1e-4, rtol=0)


def test_from_config_hears_its_own_audio_in_training():
    cfg = get_cfg()
    cfg.TEST.AUDIO_ABLATION = "shuffle"
    assert RecordAudio.from_config(cfg, "zero_examples", is_train=True).ablation == "none"
    assert RecordAudio.from_config(cfg, "zero_examples", is_train=False).ablation == "shuffle"
    cfg.MODEL.AUDIO.NAME = "PANNs"
    with pytest.raises(KeyError, match="MODEL.AUDIO.NAME = 'PANNs'"):
        RecordAudio.from_config(cfg, "zero_examples", is_train=False)


def test_audio_donors_is_a_fixed_derangement():
    for count in (2, 3, 10):
        donors = audio_donors(count)
        assert sorted(donors) == list(range(count)) and all(d != i for i, d in enumerate(donors))
        assert audio_donors(count) == donors
    with pytest.raises(ValueError, match="at least two samples"):
        audio_donors(1)
