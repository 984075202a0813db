"""AVISM's query similarity loss (VITA's ``loss_clip_sim``, weighted by ``MODEL.AVISM.SIM_WEIGHT``).

The frame queries matched to a track in each frame of a training window and the video queries matched to a
track in that window are embedded (the video module's ``sim_embed_frame`` / ``sim_embed_video``);
every pair of embeddings from the same window is pushed to a high dot product when both stand for
the same track and to a low one otherwise (binary cross-entropy on the dot product), averaged
over the pairs. It teaches the frame queries of one object to look alike through time, which is
what lets the video queries gather them into one track.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["query_similarity_loss"]

Indices = list[tuple[torch.Tensor, torch.Tensor]]


def _matched(
    embed: torch.Tensor, indices: Indices, group_of_set: torch.Tensor, track_ids: list[torch.Tensor] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The embeddings of the matched queries, their track ids and the window each belongs to.

    Args:
        embed: ``[S, Q, C]``, S sets of Q queries.
        indices: per set ``(query_indices, target_indices)``.
        group_of_set: int64 ``[S]``, the window (round x video) each set belongs to.
        track_ids: per set int64 ``[N_s]``, the track id of each target; None: the target
            index is the track id.
    """
    device = embed.device
    sets = torch.cat([torch.full_like(q, s) for s, (q, _) in enumerate(indices)]).to(device)
    queries = torch.cat([q for q, _ in indices]).to(device)
    targets = [t.to(device) for _, t in indices]
    if track_ids is not None:
        targets = [ids.to(device)[t] for ids, t in zip(track_ids, targets)]
    return embed[sets, queries], torch.cat(targets), group_of_set.to(device)[sets]


def query_similarity_loss(
    frame_embed: torch.Tensor,
    frame_indices: list[Indices],
    frame_track_ids: list[torch.Tensor],
    video_embed: torch.Tensor,
    video_indices: Indices,
) -> torch.Tensor:
    """Binary cross-entropy of query-embedding dot products against "same track", per window.

    Args:
        frame_embed: ``[L, B, T, fQ, C]``: embedded frame queries of the L frame-decoder rounds
            that feed the video module, B windows of T frames.
        frame_indices: per round, ``B*T`` (frame query indices, frame target indices) pairs of
            the frame decoder's matching, frames in window order.
        frame_track_ids: ``B*T`` int64 ``[N_f]``: for each frame target, its track's index in its
            window's targets.
        video_embed: ``[L, B, cQ, C]``: embedded video queries of the video module's last round.
        video_indices: ``L*B`` (video query indices, track indices) pairs of the video module's
            matching; the window of round l and video b is set ``l * B + b``.

    Returns:
        The scalar loss (0, with a graph, when nothing is matched).

    Raises:
        ValueError: the matchings do not have one entry per set of the embeddings.
    """
    rounds, batch, frames = frame_embed.shape[:3]
    counts = [
        ("frame_indices rounds", len(frame_indices), rounds),
        *((f"frame_indices[{r}] sets", len(per_round), batch * frames) for r, per_round in enumerate(frame_indices)),
        ("frame_track_ids", len(frame_track_ids), batch * frames),
        ("video_indices", len(video_indices), rounds * batch),
        ("video_embed [L, B]", tuple(video_embed.shape[:2]), (rounds, batch)),
    ]
    for name, got, expected in counts:
        if got != expected:
            raise ValueError(f"query_similarity_loss: {name} is {got}, expected {expected}")
    frame_sets = frame_embed.flatten(0, 2)  # [L*B*T, fQ, C]: set (l, b, t)
    frame_groups = torch.arange(rounds * batch).repeat_interleave(frames)  # set -> window l * B + b
    f_embed, f_ids, f_group = _matched(
        frame_sets, [pair for per_round in frame_indices for pair in per_round], frame_groups, frame_track_ids * rounds
    )
    c_embed, c_ids, c_group = _matched(video_embed.flatten(0, 1), video_indices, torch.arange(rounds * batch), None)
    embed = torch.cat([f_embed, c_embed])
    ids = torch.cat([f_ids, c_ids])
    group = torch.cat([f_group, c_group])
    if embed.shape[0] == 0:
        return frame_embed.sum() * 0.0 + video_embed.sum() * 0.0
    logits = embed @ embed.T
    same_track = (ids[:, None] == ids[None]).float()
    same_window = (group[:, None] == group[None]).float()
    loss = F.binary_cross_entropy_with_logits(logits, same_track, reduction="none") * same_window
    return loss.sum() / (same_window.sum() + 1e-6)
