"""Checkpoints: atomic writes, exact resumption (RNG states included) and external weights.

Files are ``OUTPUT_DIR/model_NNNNNNN.pth`` / ``model_final.pth`` holding ``model``, the
registered checkpointables (optimizer, scheduler, grad scaler), ``iteration`` and
``rng_states`` (one entry per rank). ``last_checkpoint`` names the newest complete file.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
from typing import Any, Iterator

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer as _FvcoreCheckpointer
from fvcore.common.checkpoint import _IncompatibleKeys

from ov_avss.utils import comm
from ov_avss.utils.file_io import atomic_open

from .name_map import ORIGINAL_CONSTANT_BUFFERS, convert_external_names
from .safe_pickle import load_safe_pickle

logger = logging.getLogger(__name__)

LAST_CHECKPOINT_FILE = "last_checkpoint"


def capture_rng_states() -> dict[str, Any]:
    """This process's Python, numpy, torch and CUDA generator states, in weights-only types."""
    bit_generator, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": bit_generator,
            "keys": keys.tolist(),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Put this process's generators back to a ``capture_rng_states()`` result."""
    random.setstate(states["python"])
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            numpy_state["bit_generator"],
            np.asarray(numpy_state["keys"], dtype=np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        if len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])
        else:
            logger.warning(
                "Saved RNG states hold %d CUDA generators but %d devices are visible; CUDA "
                "generators keep their current state.",
                len(states["cuda"]),
                torch.cuda.device_count(),
            )


@contextlib.contextmanager
def preserved_rng_states() -> Iterator[None]:
    """Generators leave the block in the state they entered it (e.g. around an evaluation in
    the middle of training, so that it does not shift the training's random draws)."""
    states = capture_rng_states()
    try:
        yield
    finally:
        set_rng_states(states)


def restore_rng_states(rng_states_by_rank: list[dict[str, Any]]) -> bool:
    """Restore this rank's generators from a checkpoint's ``rng_states``.

    Returns False (and logs why) when the checkpoint was written with a different number of
    processes, in which case the generators keep their freshly seeded state.
    """
    world_size = comm.get_world_size()
    if len(rng_states_by_rank) != world_size:
        logger.warning(
            "Checkpoint holds RNG states of %d processes but %d are running; keeping the fresh "
            "seeds, so the resumed run will not repeat the original's random draws.",
            len(rng_states_by_rank),
            world_size,
        )
        return False
    set_rng_states(rng_states_by_rank[comm.get_rank()])
    return True


class Checkpointer(_FvcoreCheckpointer):
    """fvcore ``Checkpointer`` with atomic saves, RNG states, safe ``.pkl`` loading and the
    external-name map.

    ``save`` must be called on every rank (it gathers the ranks' RNG states); only the main
    process writes. Loading reads ``.pth`` with ``torch.load(weights_only=True)`` and detectron2
    ``.pkl`` with the allow-list unpickler of ``safe_pickle``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        save_dir: str = "",
        *,
        save_to_disk: bool | None = None,
        **checkpointables: Any,
    ) -> None:
        super().__init__(
            model,
            save_dir,
            save_to_disk=comm.is_main_process() if save_to_disk is None else save_to_disk,
            **checkpointables,
        )

    def save(self, name: str, **kwargs: Any) -> None:
        """Write ``save_dir/<name>.pth`` atomically, then point ``last_checkpoint`` at it."""
        rng_states = comm.all_gather(capture_rng_states())
        if not self.save_dir or not self.save_to_disk:
            return
        data: dict[str, Any] = {"model": self.model.state_dict()}
        for key, checkpointable in self.checkpointables.items():
            data[key] = checkpointable.state_dict()
        data["rng_states"] = rng_states
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        with atomic_open(save_file, "wb") as f:
            torch.save(data, f)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_open(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE), "w") as f:
            f.write(last_filename_basename)

    def get_checkpoint_file(self) -> str:
        """The file ``last_checkpoint`` names; raises if that file is gone."""
        path = super().get_checkpoint_file()
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{os.path.join(self.save_dir, LAST_CHECKPOINT_FILE)} names {path}, which does "
                "not exist; remove last_checkpoint or restore the file to resume"
            )
        return path

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict[str, Any]:
        if path and not os.path.isfile(path):
            raise FileNotFoundError(f"Checkpoint / weight file not found: {path}")
        return super().load(path, checkpointables)

    def _load_file(self, filename: str) -> dict[str, Any]:
        if filename.endswith(".pkl"):
            data = load_safe_pickle(filename)
            if not isinstance(data, dict):
                raise ValueError(
                    f"{filename}: expected a detectron2 weight pickle holding a dict, got "
                    f"{type(data).__name__}"
                )
            # detectron2 files wrap the weights as {"model": ..., "__author__": ...}; older
            # ones are a bare {name: array} mapping.
            state_dict = data["model"] if "model" in data else data
            return {"model": state_dict, "__author__": data.get("__author__", "unknown")}
        data = torch.load(filename, map_location=torch.device("cpu"), weights_only=True)
        if not isinstance(data, dict):
            raise ValueError(
                f"{filename}: expected a checkpoint dict or a state dict, got {type(data).__name__}"
            )
        if "model" not in data:
            return {"model": data}
        return data

    def _load_model(self, checkpoint: dict[str, Any]) -> _IncompatibleKeys:
        state_dict = checkpoint["model"]
        non_tensors = [k for k, v in state_dict.items() if not isinstance(v, (torch.Tensor, np.ndarray))]
        if non_tensors:
            raise ValueError(
                f"Checkpoint 'model' entries must be tensors or numpy arrays; "
                f"{len(non_tensors)} are not, e.g. '{non_tensors[0]}' "
                f"({type(state_dict[non_tensors[0]]).__name__})"
            )
        model_keys = self.model.state_dict().keys()
        constants = sorted(key for key in state_dict if key in ORIGINAL_CONSTANT_BUFFERS and key not in model_keys)
        if constants:
            self.logger.info(
                "Dropping constants of the original OV-AVSS release that this model rebuilds: %s",
                "; ".join(f"{key} ({ORIGINAL_CONSTANT_BUFFERS[key]})" for key in constants),
            )
            state_dict = {key: value for key, value in state_dict.items() if key not in constants}
        renamed, unmapped = convert_external_names(state_dict, model_keys)
        if unmapped:
            self.logger.info(
                "%d checkpoint keys match no model name and no name-map rule; they are reported "
                "as unexpected below.",
                len(unmapped),
            )
        checkpoint["model"] = renamed
        incompatible = super()._load_model(checkpoint)
        check_no_untrained_parameters(self.model, renamed, incompatible.missing_keys)
        return incompatible


# A key only OV-AVSS models (ours and the release's) hold: the decoder's audio projection.
OV_AVSS_MODEL_KEY_PREFIX = "transformer_decoder.audio_proj."


def check_no_untrained_parameters(model: torch.nn.Module, loaded: dict[str, Any], missing_keys: list[str]) -> None:
    """A file holding a whole OV-AVSS model (ours or the release's) must set every trainable
    parameter of ``model``: what it lacks would silently stay at random initialisation.

    Initialisations (e.g. the Mask2Former COCO pickles, which hold no audio parts) may leave
    layers at their initial values; fvcore's warning lists them.

    Raises:
        RuntimeError: naming every trainable parameter the OV-AVSS checkpoint does not set.
    """
    if not any(key.startswith(OV_AVSS_MODEL_KEY_PREFIX) for key in loaded):
        return
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    untrained = sorted(trainable.intersection(missing_keys))
    if untrained:
        raise RuntimeError(
            f"The checkpoint holds an OV-AVSS model but not these {len(untrained)} trainable tensors of the "
            f"model built from the config, which would stay at random initialisation: {', '.join(untrained)}. "
            "Use the config the checkpoint was trained with (the release's checkpoints: the published "
            "configs, every MODEL.OV_EXTENSIONS key off)."
        )
