"""AVISM training: the frame and video losses, gradients to every trained part, a falling loss
on a fixed batch, float32 frame mask features under autocast, and named errors for bad targets."""
from __future__ import annotations

import pytest
import torch

from helpers import TINY_AVISM_CONFIG, load_config
from ov_avss.data.catalog import get_dataset_metadata
from ov_avss.modeling import build_model_without_pretrained_files
from ov_avss.modeling.meta_arch import avism as avism_module
from ov_avss.structures import VideoInput, make_video_input


def _model(*overrides):
    cfg = load_config(TINY_AVISM_CONFIG, overrides)
    torch.manual_seed(0)
    return build_model_without_pretrained_files(cfg).train()


def _video(generator: torch.Generator) -> VideoInput:
    masks = torch.zeros(3, 5, 64, 96, dtype=torch.bool)
    masks[0, :, 10:30, 10:40] = True
    masks[1, 2:, 30:60, 50:90] = True  # appears in frame 2
    # masks[2] stays empty: an instance silent in the whole video is not a target
    frames = torch.randint(0, 256, (5, 3, 64, 96), dtype=torch.uint8, generator=generator)
    return make_video_input(
        uid="avism_video",
        dataset_name="aviseg_train",
        frame_indices=range(5),
        height=64,
        width=96,
        frames=frames,
        audio=torch.randn(5, 128, generator=generator),
        vocabulary=get_dataset_metadata("aviseg_train").vocabulary,
        targets={"labels": torch.tensor([3, 7, 1]), "masks": masks},
    )


def test_losses_gradients_and_a_falling_loss():
    model = _model()
    generator = torch.Generator().manual_seed(0)
    batch = [_video(generator), _video(generator)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    totals = []
    for _ in range(6):
        losses = model(batch)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(float(total.detach()))
    # 3 frame-decoder rounds + the learned queries: 4 sets of frame losses; 2 video rounds.
    expected = {f"loss_{name}{suffix}" for name in ("ce", "mask", "dice") for suffix in ("", "_0", "_1", "_2")}
    expected |= {f"loss_avism_{name}{suffix}" for name in ("ce", "mask", "dice") for suffix in ("", "_0")}
    assert set(losses) == expected | {"loss_clip_sim"}  # SIM_WEIGHT 1.0, what the release trained with
    # Every trained parameter gets a gradient, the similarity heads included.
    without_grad = [
        name for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())
    ]
    assert without_grad == []
    assert min(totals[-2:]) < 0.9 * totals[0], totals


@pytest.mark.parametrize("deep_supervision", [True, False])
def test_similarity_loss_gets_the_rounds_and_tracks_of_the_model(monkeypatch, deep_supervision):
    """What the model hands ``query_similarity_loss``: tiny config, LAST_LAYER_NUM 2, 2 videos of
    5 frames, 20 frame queries, 10 video queries, 64 channels."""
    calls, original = [], avism_module.query_similarity_loss

    def recording(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(avism_module, "query_similarity_loss", recording)
    model = _model("MODEL.MASK_FORMER.DEEP_SUPERVISION", deep_supervision)
    generator = torch.Generator().manual_seed(0)
    batch = [_video(generator), _video(generator)]
    losses = model(batch)
    frame_embed, frame_indices, track_ids, video_embed, video_indices = calls[0]
    assert frame_embed.shape == (2, 2, 5, 20, 64) and video_embed.shape == (2, 2, 10, 64)
    assert len(frame_indices) == 2 and all(len(per_round) == 10 for per_round in frame_indices)
    assert len(video_indices) == 4
    # Frame targets in (video, frame) order: track 0 everywhere, track 1 from frame 2 on.
    assert [ids.tolist() for ids in track_ids] == [[0], [0], [0, 1], [0, 1], [0, 1]] * 2
    for per_round in frame_indices:
        for (queries, targets), ids in zip(per_round, track_ids):
            assert len(queries) == len(targets) == len(ids)
    assert all(sorted(targets.tolist()) == [0, 1] for _, targets in video_indices)
    assert torch.isfinite(losses["loss_clip_sim"])
    assert any(name.endswith("_0") and name.startswith("loss_ce") for name in losses) == deep_supervision
    with pytest.raises(ValueError, match="video_indices is 3, expected 4"):
        original(frame_embed, frame_indices, track_ids, video_embed, video_indices[:3])


def test_sim_weight_zero_builds_no_similarity_heads():
    model = _model("MODEL.AVISM.SIM_WEIGHT", 0.0)
    assert not any("sim_embed" in name for name, _ in model.named_parameters())
    losses = model([_video(torch.Generator().manual_seed(0))])
    assert "loss_clip_sim" not in losses


def test_bad_targets_are_named():
    model = _model()
    video = _video(torch.Generator().manual_seed(1))
    bad_labels = dict(video, targets={"labels": torch.tensor([3, 7, 26]), "masks": video["targets"]["masks"]})
    with pytest.raises(ValueError, match=r"labels must be \[N\] in 0..25"):
        model([bad_labels])
    bad_masks = dict(video, targets={"labels": torch.tensor([3]), "masks": torch.zeros(1, 4, 64, 96, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"masks must be \[N, T, H, W\]"):
        model([bad_masks])
    with pytest.raises(ValueError, match="SAMPLING_FRAME_NUM = 5"):
        model([dict(video, frames=video["frames"][:4], audio=video["audio"][:4])])


def test_windows_of_a_batch_stay_apart_in_the_video_module():
    """Each video's frame queries fuse with its own audio only (the release's module repeats the
    audio of the whole batch for each video; docs/avis.md, differences on purpose): video 0's
    outputs in a batch of two equal its outputs alone."""
    model = _model()
    decoder = model.video_decoder
    generator = torch.Generator().manual_seed(0)
    rounds, frames, num_fq, channels = 2, 5, 20, 64
    queries = torch.randn(rounds, 2 * frames, num_fq, channels, generator=generator)
    audio = torch.randn(2 * frames, 128, generator=generator)
    with torch.no_grad():
        both = decoder(queries, audio, frames)
        alone = decoder(queries[:, :frames], audio[:frames], frames)
    for key in ("pred_logits", "pred_mask_embed", "pred_fq_embed", "pred_cq_embed"):
        torch.testing.assert_close(both[key][:, 0], alone[key][:, 0], rtol=1e-5, atol=1e-5, msg=key)
    # And video 0 does hear its own audio: another sound changes its outputs.
    with torch.no_grad():
        other = decoder(queries[:, :frames], audio[frames:], frames)
    assert not torch.allclose(other["pred_logits"][:, 0], alone["pred_logits"][:, 0], atol=1e-4)


def test_frame_mask_features_stay_float32_under_autocast():
    """The frame masks read the pixel decoder's mask features in float32 under mixed precision, as
    the release's (and OV-AVSS's) ``forward_features`` computes them."""
    model = _model()
    seen = {}
    model.frame_decoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("mask_features", args[1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model([_video(torch.Generator().manual_seed(0))])
    assert seen["mask_features"].dtype == torch.float32
