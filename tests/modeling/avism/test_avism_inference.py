"""AVISM whole-video inference: output layout, chunked inference equal to one-chunk inference
(with mask features off the device), the audio changes the tracks, clear input errors."""
from __future__ import annotations

import pytest
import torch

from helpers import TINY_AVISM_CONFIG, load_config
from ov_avss.data.catalog import get_dataset_metadata
from ov_avss.modeling import build_model_without_pretrained_files
from ov_avss.structures import VideoInput, make_video_input


def _model(*overrides):
    cfg = load_config(TINY_AVISM_CONFIG, overrides)
    torch.manual_seed(0)
    return build_model_without_pretrained_files(cfg).eval()


def _video(num_frames: int, seed: int = 0) -> VideoInput:
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (num_frames, 3, 70, 100), dtype=torch.uint8, generator=generator)
    return make_video_input(
        uid="avism_video",
        dataset_name="aviseg_test",
        frame_indices=range(num_frames),
        height=35,
        width=50,
        frames=frames,
        audio=torch.randn(num_frames, 128, generator=generator),
        vocabulary=get_dataset_metadata("aviseg_test").vocabulary,
    )


def test_output_layout_and_threshold():
    model = _model("MODEL.AVISM.TEST_SCORE_THRESHOLD", 0.0)
    out = model([_video(11)])[0]["segments"]
    num_tracks = len(out["scores"])
    assert num_tracks == 20  # TEST_TOPK pairs, all above a 0 threshold
    assert out["scores"].dtype == torch.float32 and out["labels"].dtype == torch.int64
    assert out["masks"].shape == (num_tracks, 11, 35, 50) and out["masks"].dtype == torch.bool
    assert all(0 <= label < 26 for label in out["labels"].tolist())
    threshold = sorted(out["scores"].tolist())[num_tracks // 2]
    strict = _model("MODEL.AVISM.TEST_SCORE_THRESHOLD", threshold)([_video(11)])[0]["segments"]
    assert 0 < len(strict["scores"]) < num_tracks
    assert all(score > threshold for score in strict["scores"].tolist())


def test_chunked_inference_matches_single_chunk():
    # 11 frames: chunks of 4 frames, masks 3 at a time, features parked on the CPU past 8 frames;
    # versus every frame in one chunk on the device. Same weights (seeded build).
    video = _video(11)
    keep_all = ("MODEL.AVISM.TEST_SCORE_THRESHOLD", 0.0)  # an untrained model's tracks score low
    chunked = _model(*keep_all)([video])[0]["segments"]
    whole = _model(
        *keep_all, "MODEL.AVISM.TEST_RUN_CHUNK_SIZE", 64, "MODEL.AVISM.TEST_INTERPOLATE_CHUNK_SIZE", 64,
        "MODEL.AVISM.TEST_MAX_FRAMES_ON_DEVICE", 64,
    )([video])[0]["segments"]
    order_c = torch.argsort(chunked["scores"])
    order_w = torch.argsort(whole["scores"])
    torch.testing.assert_close(chunked["scores"][order_c], whole["scores"][order_w], rtol=1e-4, atol=1e-5)
    agreement = (chunked["masks"][order_c] == whole["masks"][order_w]).float().mean()
    assert agreement > 0.999


def test_audio_changes_the_tracks():
    model = _model("MODEL.AVISM.TEST_SCORE_THRESHOLD", 0.0)
    video = _video(7)
    silent = dict(video, audio=torch.zeros_like(video["audio"]))
    a, b = model([video])[0]["segments"], model([silent])[0]["segments"]
    assert sorted(a["scores"].tolist()) != pytest.approx(sorted(b["scores"].tolist()), abs=1e-6)


def test_bad_inputs_are_named():
    model = _model()
    video = _video(5)
    with pytest.raises(ValueError, match=r"audio must be \[T, 128\].*\(5, 64\)"):
        model([dict(video, audio=torch.zeros(5, 64))])
    with pytest.raises(ValueError, match="5 frames but 4 audio"):
        model([dict(video, audio=torch.zeros(4, 128))])
    with pytest.raises(ValueError, match="one video per batch"):
        model([video, video])
    with pytest.raises(KeyError, match="'audio'"):
        model([{"frames": video["frames"]}])
