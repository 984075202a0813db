"""Whether a checkpoint fits the model built from a config: the one check every loader runs.

A *trained* checkpoint (our ``.pth`` files, converted or original OV-AVSS releases, state dicts)
must set every trainable tensor of the model, each with the model's shape: a tensor it lacks
would silently stay at its random initial value, and a checkpoint of another architecture (an
AVISM checkpoint given to an OV-AVSS config, or the reverse) would produce a mostly random
model. A *pretrained initialisation* (the detectron2 / Mask2Former ``.pkl`` files the published
configs name in ``MODEL.WEIGHTS``: COCO Mask2Former, ImageNet ResNet and Swin) holds only some
parts, so what it lacks keeps its initial value and a tensor of another shape is skipped with
a warning. The file kind says which: configs name initialisations as ``.pkl`` files, or as the
model-zoo files ``torch.hub`` downloads (``<name>-<first 8 hex digits of its sha256>.pth``, e.g.
torchvision's ``resnet50-19c8e357.pth``, which the TPAVI R50 configs start from as the AVSBench
release does), and trained weights as other ``.pth`` files (``model_final.pth``, a release's
``S4_best.pth``).
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

import torch

# How many of the tensors that do not fit the error names.
NUM_NAMED_MISFITS = 5
PRETRAINED_INITIALISATION_SUFFIX = ".pkl"
# torch.hub's model-zoo file name: <name>-<sha256 prefix>.pth (torch.hub.HASH_REGEX checks the same suffix).
_MODEL_ZOO_FILE = re.compile(r"[A-Za-z0-9_.]+-[0-9a-f]{8,}\.pth")


def is_pretrained_initialisation(filename: str) -> bool:
    """Whether ``filename`` is read as a pretrained initialisation: a detectron2 ``.pkl``, or a
    ``torch.hub`` model-zoo file named ``<name>-<sha256 prefix>.pth`` (torchvision's ImageNet files)."""
    return filename.endswith(PRETRAINED_INITIALISATION_SUFFIX) or bool(
        _MODEL_ZOO_FILE.fullmatch(os.path.basename(filename))
    )


class CheckpointMismatchError(ValueError):
    """A trained checkpoint does not fit the model built from the config.

    ``config_file`` may be set by the caller that knows it (the entry points), to be named in
    the message.
    """

    def __init__(self, filename: str, num_matched: int, num_model_tensors: int, misfits: list[str]) -> None:
        super().__init__(filename, num_matched, num_model_tensors, misfits)
        self.filename = filename
        self.num_matched = num_matched
        self.num_model_tensors = num_model_tensors
        self.misfits = misfits
        self.config_file = ""

    def __str__(self) -> str:
        config = self.config_file or "the config"
        first = self.misfits[:NUM_NAMED_MISFITS]
        more = f" and {len(self.misfits) - len(first)} more" if len(self.misfits) > len(first) else ""
        return (
            f"checkpoint {self.filename} does not fit the model built from {config}: "
            f"{self.num_matched} of {self.num_model_tensors} model tensors match; "
            f"{len(self.misfits)} do not fit (a trainable tensor missing, or another shape): "
            f"{', '.join(first)}{more}. Is it a checkpoint of another architecture? Use the config "
            f"it was trained with (a pretrained initialisation is read from a "
            f"'{PRETRAINED_INITIALISATION_SUFFIX}' file and may leave layers untrained)"
        )


def _shape(value: Any) -> list[int]:
    return list(value.shape)


def check_checkpoint_fits(
    model: torch.nn.Module,
    state_dict: Mapping[str, Any],
    filename: str,
) -> None:
    """Raise unless ``state_dict`` (already renamed onto the model's names) fits ``model``.

    Pretrained initialisations (``is_pretrained_initialisation(filename)``) always fit. For a
    trained checkpoint, a misfit is any model tensor whose checkpoint tensor has another shape,
    and any trainable parameter the checkpoint lacks (frozen tensors, e.g. the self-loaded CLIP
    and VGGish a checkpoint does not repeat, are not required).

    Raises:
        CheckpointMismatchError: naming the file, how many model tensors match, and the misfits.
    """
    if is_pretrained_initialisation(filename):
        return
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    model_state = model.state_dict()
    matched = 0
    other_shapes: list[str] = []
    missing: list[str] = []
    for name, tensor in model_state.items():
        if name in state_dict:
            if _shape(state_dict[name]) == _shape(tensor):
                matched += 1
            else:
                other_shapes.append(f"{name} (checkpoint {_shape(state_dict[name])}, model {_shape(tensor)})")
        elif name in trainable:
            missing.append(f"{name} (missing)")
    if other_shapes or missing:
        raise CheckpointMismatchError(filename or "(in memory)", matched, len(model_state), other_shapes + missing)
