"""Our AVISM against an independent re-computation of the release
(``avism_release_reference.py``), on a tiny model loaded through MODEL.WEIGHTS' path from a state
dict with the release's names: the video mask features and masks, the similarity embeddings and
loss, the video BCE and dice over a track's points (each within 1e-5 relative), the whole training
step (every loss term, the total and the gradients of every trained parameter within 1e-4
relative), and whole-video inference in chunks (kept tracks, labels and masks exactly, scores
within 1e-5, ``results.json`` entries in the release's format)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import TINY_AVISM_CONFIG, avism_release_layout, load_config, load_module
from ov_avss.checkpoint import Checkpointer
from ov_avss.data.catalog import get_dataset_metadata
from ov_avss.evaluation.avis import track_predictions
from ov_avss.modeling import build_model_without_pretrained_files
from ov_avss.modeling.avism import TrackSetCriterion
from ov_avss.modeling.criterion import set_criterion as criterion_module
from ov_avss.modeling.meta_arch import avism as avism_module
from ov_avss.structures import make_video_input

reference = load_module(Path(__file__).with_name("avism_release_reference.py"))
layout = avism_release_layout()
# The release's pixel decoder has a 1024-wide deformable-encoder FFN (the layout helper's).
OVERRIDES = ["MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", "1024"]
RTOL = 1e-5
CFG = load_config(TINY_AVISM_CONFIG, OVERRIDES)


def _relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).norm() / theirs.double().norm())


def _release_values(shapes: dict[str, tuple], seed: int) -> dict[str, torch.Tensor]:
    """Random values a network can run on: weights scaled by 1/sqrt(fan-in), positive variances,
    norm scales near 1."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        if key.endswith("running_var"):
            state[key] = 1.0 + noise.abs()
        elif len(shape) > 1:
            state[key] = noise / torch.tensor(shape[1:]).prod().float().sqrt()
        elif key.endswith(("norm.weight", "norm1.weight", "norm2.weight")) or ".norm." in key and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * noise
        else:
            state[key] = 0.1 * noise
    return state


def _release_model(tmp_path, *overrides, train: bool):
    """The tiny AVISM with a release-layout state dict loaded the way MODEL.WEIGHTS loads it."""
    cfg = load_config(TINY_AVISM_CONFIG, [*OVERRIDES, *overrides])
    state = _release_values(layout.reference_shapes(cfg, coco=False), seed=3)
    # Confident classes, as a trained model's: some tracks then score above the release's 0.3.
    state["avism_module.class_embed.weight"] *= 30.0
    path = tmp_path / "avism_release.pth"
    torch.save({"model": state}, path)
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg)
    Checkpointer(model, save_to_disk=False).load(str(path))
    return model.train(train), state


def _video(generator: torch.Generator, num_frames: int = 5) -> dict:
    masks = torch.zeros(3, num_frames, 64, 96, dtype=torch.bool)
    masks[0, :, 10:30, 10:40] = True
    masks[1, 2:, 30:60, 50:90] = True  # appears in frame 2
    masks[2, :3, 40:64, 0:30] = True  # leaves after frame 2
    return make_video_input(
        uid="avism_video",
        dataset_name="aviseg_train",
        frame_indices=range(num_frames),
        height=64,
        width=96,
        frames=torch.randint(0, 256, (num_frames, 3, 64, 96), dtype=torch.uint8, generator=generator),
        audio=torch.randn(num_frames, 128, generator=generator),
        vocabulary=get_dataset_metadata("aviseg_train").vocabulary,
        targets={"labels": torch.tensor([3, 7, 1]), "masks": masks},
    )


def _record_encoder_inputs(model, seen: dict) -> None:
    """Record into ``seen`` what the reference's FPN level reads: the backbone's ``res2`` and the
    deformable encoder's finest output (``encoder_finest``)."""
    model.backbone.register_forward_hook(lambda m, i, out: seen.__setitem__("res2", out["res2"]))
    decode_levels = model.pixel_decoder.decode_levels

    def recording_decode_levels(*args):
        out = decode_levels(*args)
        seen["encoder_finest"] = out[1][-1]
        return out

    model.pixel_decoder.decode_levels = recording_decode_levels


@pytest.fixture(scope="module")
def training_step(tmp_path_factory):
    """One training forward of two videos with what the reference needs recorded."""
    model, state = _release_model(tmp_path_factory.mktemp("release"), train=True)
    seen: dict = {}
    _record_encoder_inputs(model, seen)
    projection = model.video_decoder.project_mask_features
    model.video_decoder.project_mask_features = lambda x: seen.setdefault("video_mask_features", projection(x))
    model.video_decoder.register_forward_hook(lambda m, i, out: seen.__setitem__("video_outputs", out))
    # The decoder's memory is what the release embeds for the similarity loss (frame query + av_feat).
    def record_memory(module, args) -> None:
        seen.setdefault("decoder_memory", args[1])

    model.video_decoder.transformer_cross_attention_layers[0].register_forward_pre_hook(record_memory)
    model.video_decoder.decoder_norm.register_forward_hook(lambda m, i, out: seen.__setitem__("last_decoder_out", out))
    video_losses = model.video_criterion.losses_and_indices

    def recording_losses(outputs, targets):
        seen["video_sets"], seen["window_targets"] = outputs, targets
        return video_losses(outputs, targets)

    model.video_criterion.losses_and_indices = recording_losses
    similarity_calls = []
    original = avism_module.query_similarity_loss
    avism_module.query_similarity_loss = lambda *args: similarity_calls.append(args) or original(*args)
    try:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            losses = model([_video(generator), _video(generator)])
    finally:
        avism_module.query_similarity_loss = original
    seen["similarity_args"] = similarity_calls[0]
    return model, state, seen, losses


def test_video_mask_features_and_masks_equal_the_release(training_step):
    model, state, seen, _ = training_step
    fpn = reference.last_fpn_output(state, seen["res2"], seen["encoder_finest"])
    features = reference.video_mask_features(state, fpn)
    assert _relative_error(seen["video_mask_features"], features) < RTOL
    # The masks the video criterion scores: every round of every video.
    outputs = seen["video_outputs"]
    masks = reference.video_masks(outputs["pred_mask_embed"], features, num_frames=5)  # [L, B, cQ, T, h, w]
    assert _relative_error(seen["video_sets"]["pred_masks"], masks.flatten(0, 1)) < RTOL
    # Our former features (the projection of the frame mask features) are far from these.
    frame_features = torch.nn.functional.conv2d(
        fpn, state["sem_seg_head.pixel_decoder.mask_features.weight"], state["sem_seg_head.pixel_decoder.mask_features.bias"]
    )
    assert _relative_error(reference.video_mask_features(state, frame_features), features) > 0.1


def test_similarity_embeddings_and_loss_equal_the_release(training_step):
    model, state, seen, losses = training_step
    frame_embed, frame_indices, frame_track_ids, video_embed, video_indices = seen["similarity_args"]
    rounds, batch, frames, num_fq = frame_embed.shape[:4]
    # decoder_norm runs once per round: the last call is the last round.
    their_frame, their_video = reference.similarity_embeddings(
        state, seen["decoder_memory"], seen["last_decoder_out"], (rounds, batch, frames, num_fq)
    )
    assert _relative_error(frame_embed, their_frame) < RTOL
    assert _relative_error(video_embed, their_video) < RTOL
    video_ids = [torch.arange(len(target["labels"])) for target in seen["window_targets"]]
    loss = reference.similarity_loss(their_frame, frame_indices, frame_track_ids, their_video, video_indices, video_ids)
    assert model.similarity_weight == 1.0  # the published configs: what the release trained with
    assert abs(float(losses["loss_clip_sim"]) - float(loss)) <= RTOL * abs(float(loss))


def test_video_bce_and_dice_are_over_a_track_s_points(monkeypatch):
    """The criterion's mask terms against ``loss_masks``, the points replayed."""
    generator = torch.Generator().manual_seed(0)
    sets, queries, frames = 2, 6, 4
    outputs = {
        "pred_logits": torch.randn(sets, queries, 27, generator=generator),
        "pred_masks": torch.randn(sets, queries, frames, 12, 16, generator=generator) * 3,
    }
    targets = []
    for num_tracks in (3, 2):
        masks = torch.rand(num_tracks, frames, 48, 64, generator=generator) > 0.6
        masks[0, 1] = False  # a track absent in one frame
        targets.append({"labels": torch.randint(0, 26, (num_tracks,), generator=generator), "masks": masks.float()})
    sampled = []
    sample = criterion_module.uncertain_point_coords_with_randomness
    monkeypatch.setattr(
        criterion_module, "uncertain_point_coords_with_randomness", lambda *a: sampled.append(sample(*a)) or sampled[-1]
    )
    criterion = TrackSetCriterion(
        num_classes=26, prefix="loss_avism_", class_weight=2.0, mask_weight=5.0, dice_weight=5.0, no_object_weight=0.1,
        num_points=50, oversample_ratio=3.0, importance_sample_ratio=0.75,
    )
    losses, indices = criterion.losses_and_indices(outputs, targets)
    (last,) = indices
    matched = torch.cat([outputs["pred_masks"][s, q] for s, (q, _) in enumerate(last)])
    matched_targets = torch.cat([t["masks"][j] for t, (_, j) in zip(targets, last)])
    bce, dice = reference.video_mask_losses(matched, matched_targets, sampled[-1], num_masks=5.0)
    assert abs(float(losses["loss_avism_mask"]) - 5.0 * float(bce)) <= RTOL * 5.0 * float(bce)
    assert abs(float(losses["loss_avism_dice"]) - 5.0 * float(dice)) <= RTOL * 5.0 * float(dice)


@pytest.mark.parametrize("run_chunk_size, interpolate_chunk_size", [(4, 3), (5, 2), (11, 11)])
def test_chunked_inference_equals_the_release(tmp_path, run_chunk_size, interpolate_chunk_size):
    """An 11-frame video (windows of 3: not a multiple; longer than a chunk of 4 or 5)."""
    model, state = _release_model(
        tmp_path, "MODEL.AVISM.TEST_RUN_CHUNK_SIZE", run_chunk_size,
        "MODEL.AVISM.TEST_INTERPOLATE_CHUNK_SIZE", interpolate_chunk_size, train=False,
    )
    generator = torch.Generator().manual_seed(1)
    num_frames = 11
    frames = torch.randint(0, 256, (num_frames, 3, 70, 100), dtype=torch.uint8, generator=generator)
    audio = torch.randn(num_frames, 128, generator=generator)
    video = make_video_input(
        uid="avism_video", dataset_name="aviseg_test", frame_indices=range(num_frames), height=35, width=50,
        frames=frames, audio=audio, vocabulary=get_dataset_metadata("aviseg_test").vocabulary,
    )
    with torch.no_grad():
        ours = model([video])[0]

        def frame_network(images, chunk_audio):
            features = model.backbone(images)
            finest, multi_scale, audio_tokens = model.pixel_decoder.decode_levels(features, chunk_audio)
            _, frame_queries = model.frame_decoder(multi_scale, model.pixel_decoder.mask_features(finest), audio_tokens)
            return features["res2"], multi_scale[-1], frame_queries

        def video_network(frame_queries, video_audio):
            out = model.video_decoder(frame_queries, video_audio, frame_queries.shape[1])
            return out["pred_logits"][-1, 0], out["pred_mask_embed"][-1, 0]

        theirs = reference.inference(
            frames, audio, state, frame_network, video_network,
            pixel_mean=torch.tensor(CFG.MODEL.PIXEL_MEAN), pixel_std=torch.tensor(CFG.MODEL.PIXEL_STD),
            size_divisibility=model.size_divisibility, run_chunk_size=run_chunk_size,
            interpolate_chunk_size=interpolate_chunk_size, top_k=model.top_k, num_classes=26, out_size=(35, 50),
        )
    assert len(theirs["pred_scores"]) > 0, "the fixture keeps no track: nothing is compared"
    segments = ours["segments"]
    assert segments["labels"].tolist() == theirs["pred_labels"]
    torch.testing.assert_close(segments["scores"], torch.tensor(theirs["pred_scores"]), rtol=RTOL, atol=0)
    assert torch.equal(segments["masks"], theirs["pred_masks"])
    assert tuple(segments["masks"].shape[-2:]) == theirs["image_size"]
    for mine, release in zip(track_predictions(7, ours), reference.results_json_entries(7, theirs)):
        assert mine.keys() == release.keys()
        assert (mine["video_id"], mine["category_id"]) == (release["video_id"], release["category_id"])
        assert mine["segmentations"] == release["segmentations"]
        assert mine["score"] == pytest.approx(release["score"], rel=RTOL)


def test_training_step_equals_the_release(tmp_path):
    """Every loss term of the training step (the frame decoder's, the video module's with its deep
    supervision, the similarity term at the release's effective weight 1.0), the total, and the
    gradients of the total w.r.t. every trained parameter (backbone, pixel decoder, frame decoder,
    video module), against the release's ``train_model`` re-computed by the reference (its own
    targets, matchers, point sampling from
    the random state our frame criterion started from, heads from the release-layout state dict)
    within 1e-4 relative.

    The networks that already agreed (backbone, pixel decoder, frame decoder, the video module's
    attention layers) are handed in from our run: the reference's gradients for their parameters
    flow back through our layers from its own heads, FPN level and losses."""
    model, state = _release_model(tmp_path, train=True)
    seen: dict = {"decoder_outputs": []}
    _record_encoder_inputs(model, seen)
    model.frame_decoder.register_forward_hook(lambda m, i, out: seen.__setitem__("frame_outputs", out[0]))
    video = model.video_decoder

    def record_fused(module, args) -> None:  # the first call: the frame queries plus their fused audio
        seen.setdefault("fused", args[1])

    video.transformer_cross_attention_layers[0].register_forward_pre_hook(record_fused)
    video.decoder_norm.register_forward_pre_hook(lambda m, args: seen["decoder_outputs"].append(args[0]))

    def recording_random_state(name: str) -> None:
        """Record the random state the criterion starts from (its point draws start there)."""
        criterion = getattr(model, name)
        run = criterion.losses_and_indices

        def recording(*args):
            seen[f"{name}_rng"] = torch.get_rng_state()
            return run(*args)

        criterion.losses_and_indices = recording

    recording_random_state("frame_criterion")
    recording_random_state("video_criterion")
    generator = torch.Generator().manual_seed(0)
    videos = [_video(generator), _video(generator)]
    losses = model(videos)
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    ours_total = sum(losses.values())
    our_grads = torch.autograd.grad(ours_total, list(params.values()), retain_graph=True)

    mf, avism = CFG.MODEL.MASK_FORMER, CFG.MODEL.AVISM
    shared = dict(
        class_weight=mf.CLASS_WEIGHT, mask_weight=mf.MASK_WEIGHT, dice_weight=mf.DICE_WEIGHT,
        num_points=mf.TRAIN_NUM_POINTS, oversample_ratio=mf.OVERSAMPLE_RATIO,
        importance_sample_ratio=mf.IMPORTANCE_SAMPLE_RATIO,
    )
    heads = {k: v.clone().requires_grad_(True) for k, v in state.items() if k.startswith("avism_module.")}
    num_frames, padded = 5, (64, 96)
    assert model.padded_size({padded}) == padded
    frame_targets, window_targets = reference.prepare_targets([c["targets"] for c in videos], padded, num_frames)
    # The reference's last FPN level reads our FPN parameters (the release's adapter_1 / layer_1):
    # the gradient of its video masks reaches them, as the release's reaches its own.
    pixel = "sem_seg_head.pixel_decoder"
    ours_fpn = {
        f"{pixel}.adapter_1.weight": "pixel_decoder.lateral_convs.0.0.weight",
        f"{pixel}.adapter_1.norm.weight": "pixel_decoder.lateral_convs.0.1.weight",
        f"{pixel}.adapter_1.norm.bias": "pixel_decoder.lateral_convs.0.1.bias",
        f"{pixel}.layer_1.weight": "pixel_decoder.output_convs.0.0.weight",
        f"{pixel}.layer_1.norm.weight": "pixel_decoder.output_convs.0.1.weight",
        f"{pixel}.layer_1.norm.bias": "pixel_decoder.output_convs.0.1.bias",
    }
    fpn_state = {**state, **{release: params[name] for release, name in ours_fpn.items()}}
    assert all(torch.equal(state[release], params[name]) for release, name in ours_fpn.items())
    torch.set_rng_state(seen["frame_criterion_rng"])
    theirs, fg_indices = reference.frame_losses(
        seen["frame_outputs"], frame_targets, no_object_weight=mf.NO_OBJECT_WEIGHT,
        last_layer_num=avism.LAST_LAYER_NUM, **shared,
    )
    # Nothing draws between the two criteria (no dropout in the video module): the release's frame
    # criterion leaves the random state where ours left it for the video criterion.
    assert torch.equal(torch.get_rng_state(), seen["video_criterion_rng"])
    theirs.update(reference.video_losses(
        {**state, **heads}, reference.last_fpn_output(fpn_state, seen["res2"], seen["encoder_finest"]),
        seen["decoder_outputs"], seen["fused"], window_targets, frame_targets, fg_indices,
        shape=(avism.LAST_LAYER_NUM, len(videos), num_frames, mf.NUM_OBJECT_QUERIES),
        sim_weight=avism.SIM_WEIGHT, no_object_weight=avism.NO_OBJECT_WEIGHT, **shared,
    ))
    # 4 frame rounds x 3 + 2 video rounds x 3 + the similarity term.
    assert len(theirs) == 19 and set(losses) == set(theirs)
    for key, value in theirs.items():
        assert abs(losses[key].item() - value.item()) <= 1e-4 * abs(value.item()), key
    their_total = sum(theirs.values())
    assert abs(ours_total.item() - their_total.item()) <= 1e-4 * abs(their_total.item())

    # The release's names of our video-module parameters; its heads are the reference's leaves, the
    # other parameters ours (the reference's gradients reach them through our layers).
    release_names = {
        name: "avism_module."
        + name[len("video_decoder."):].replace("mask_projection", "avism_mask_features")
        .replace("sim_embed_video", "sim_embed_clip")
        for name in params if name.startswith("video_decoder.")
    }
    assert set(release_names.values()) == {k for k in state if k.startswith("avism_module.")}
    wrt = [heads[release_names[n]] if release_names.get(n) in _REFERENCE_HEADS else p for n, p in params.items()]
    their_grads = torch.autograd.grad(their_total, wrt, allow_unused=True)
    unused = [n for n, g in zip(params, their_grads) if g is None or not g.any()]
    assert not unused, f"no gradient from the release's loss for {unused}"
    ours_flat = torch.cat([g.flatten() for g in our_grads]).double()
    theirs_flat = torch.cat([g.flatten() for g in their_grads]).double()
    assert float((ours_flat - theirs_flat).norm() / theirs_flat.norm()) < 1e-4
    for name, mine, release in zip(params, our_grads, their_grads):  # no parameter hides in the overall norm
        assert _relative_error(mine, release) < 1e-3, name


# The video module's parts the reference computes itself from the state dict.
_REFERENCE_HEADS = {
    f"avism_module.{name}.{kind}"
    for name in (
        "avism_mask_features", "decoder_norm", "class_embed", "mask_embed.layers.0", "mask_embed.layers.1",
        "mask_embed.layers.2", "sim_embed_frame", "sim_embed_clip",
    )
    for kind in ("weight", "bias")
}
