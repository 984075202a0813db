"""The model's audio input for a dataset record's frames: the one piece every mapper uses
(docs/architecture.md, "Audio input").

A record (docs/architecture.md, "Records") carries its frames' times (``frame_times``, seconds),
its audio track (``audio_path``) and, where the dataset ships them, embeddings precomputed by an
audio encoder (``audio_embedding_paths``: ``{MODEL.AUDIO.NAME: path}``). ``RecordAudio`` gives,
for frames ``frame_indices`` of a record:

- the encoder's precomputed embeddings, float32 ``[T, embedding_dim]``, when the record ships
  them for the encoder ``MODEL.AUDIO.NAME`` and its front end takes them (AVISeg ``FEATAudios``);
- else the front end's examples of the track, float32 ``[T, *example_shape]`` (VGGish
  ``[T, 1, 96, 64]``), the frame at ``t`` s getting example ``floor(t)`` and frames past the
  track's end the dataset's padding (:mod:`ov_avss.audio.frame_examples`);

and the test-time audio ablations (``TEST.AUDIO_ABLATION``): ``zero`` gives silence (the front
end's examples of silence, or zero embeddings), ``shuffle`` the audio of a donor record
(:func:`audio_donors`) at the same frame positions, the donor's frames repeated when it is
shorter, computed and padded exactly as the donor's own audio would be.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .frame_examples import audio_examples_for_frames, check_audio_padding, example_indices
from .front_end import AudioFrontEnd, audio_front_end

__all__ = ["AUDIO_ABLATIONS", "RecordAudio", "audio_donors", "load_audio_embeddings"]

AUDIO_ABLATIONS = ("none", "zero", "shuffle")


def audio_donors(count: int) -> list[int]:
    """The ``shuffle`` audio ablation's fixed derangement of ``count`` samples: sample i gets
    the audio of sample ``donors[i] != i``.

    Sattolo's algorithm draws a single cycle, hence a derangement; the fixed seed makes every run
    (and every rank) use the same one.

    Raises:
        ValueError: fewer than two samples.
    """
    if count < 2:
        raise ValueError(
            f"TEST.AUDIO_ABLATION 'shuffle' needs at least two samples (windows or videos) in the dataset, got {count}"
        )
    donors = list(range(count))
    rng = np.random.default_rng(0)
    for i in range(count - 1, 0, -1):
        j = int(rng.integers(0, i))
        donors[i], donors[j] = donors[j], donors[i]
    return donors


def load_audio_embeddings(path: str, indices: np.ndarray, embedding_dim: int) -> torch.Tensor:
    """Rows ``indices`` (int64 ``[T]``) of a ``.npy`` file of one embedding per second of audio:
    float32 ``[T, embedding_dim]``.

    Raises:
        ValueError: the file is not ``[K, embedding_dim]`` or has no row for an index.
    """
    embeddings = np.load(path)
    if embeddings.ndim != 2 or embeddings.shape[1] != embedding_dim:
        raise ValueError(f"{path}: expected [T, {embedding_dim}] audio embeddings, got shape {embeddings.shape}")
    needed = int(indices.max()) + 1 if indices.size else 0
    if embeddings.shape[0] < needed:
        raise ValueError(f"{path}: {embeddings.shape[0]} embeddings for frames up to second {needed - 1}")
    return torch.from_numpy(embeddings[indices].astype(np.float32))


class RecordAudio:
    """Callable ``(record, frame_indices, donor=None) -> audio [T, ...]``: the model's audio input.

    Args:
        encoder_name: ``MODEL.AUDIO.NAME``; picks the front end (``AUDIO_FRONT_END_REGISTRY``)
            and the record's precomputed embeddings, if any.
        padding: the dataset's ``audio_padding`` (one of ``AUDIO_PADDING_MODES``).
        ablation: one of :data:`AUDIO_ABLATIONS`; ``"shuffle"`` needs the donor record.
    """

    def __init__(self, encoder_name: str, padding: str, ablation: str = "none") -> None:
        check_audio_padding(padding)
        if ablation not in AUDIO_ABLATIONS:
            raise ValueError(f"Config TEST.AUDIO_ABLATION = '{ablation}' is not one of {AUDIO_ABLATIONS}")
        self.encoder_name = encoder_name
        self.front_end: AudioFrontEnd = audio_front_end(encoder_name)
        self.padding = padding
        self.ablation = ablation

    @classmethod
    def from_config(cls, cfg, padding: str, is_train: bool) -> "RecordAudio":
        """``MODEL.AUDIO.NAME``; ``TEST.AUDIO_ABLATION`` in testing (training hears its own audio)."""
        return cls(cfg.MODEL.AUDIO.NAME, padding, "none" if is_train else cfg.TEST.AUDIO_ABLATION)

    def __call__(self, record: dict, frame_indices: Sequence[int], donor: dict | None = None) -> torch.Tensor:
        """The audio of ``record``'s frames ``frame_indices``: float32 ``[T, *example_shape]``
        or ``[T, embedding_dim]`` (see the module docstring).

        Args:
            donor: with the ``shuffle`` ablation, the record whose audio replaces this one's.

        Raises:
            ValueError: ``shuffle`` without a donor, or the audio does not fit the frames.
        """
        frame_indices = [int(t) for t in frame_indices]
        if self.ablation == "shuffle":
            if donor is None:
                raise ValueError(
                    f"{record['dataset_name']} {record['uid']}: TEST.AUDIO_ABLATION 'shuffle' needs the record "
                    "that gives its audio (the loader's dataset passes it)"
                )
            # A shorter donor is repeated to cover the frames.
            record, frame_indices = donor, [t % int(donor["num_frames"]) for t in frame_indices]
        if self.ablation == "zero":
            if self.uses_embeddings(record):
                return torch.zeros((len(frame_indices), self.front_end.embedding_dim), dtype=torch.float32)
            return self.front_end.silence(len(frame_indices))
        return self._own_audio(record, frame_indices)

    def uses_embeddings(self, record: dict) -> bool:
        """Whether ``record``'s audio input is its precomputed embeddings (else examples of the wav)."""
        return self.front_end.embedding_dim is not None and self.encoder_name in record["audio_embedding_paths"]

    def _own_audio(self, record: dict, frame_indices: list[int]) -> torch.Tensor:
        times = [record["frame_times"][t] for t in frame_indices]
        if self.uses_embeddings(record):
            return load_audio_embeddings(
                record["audio_embedding_paths"][self.encoder_name], example_indices(times), self.front_end.embedding_dim
            )
        return audio_examples_for_frames(record["audio_path"], times, self.padding, self.front_end).to(torch.float32)
