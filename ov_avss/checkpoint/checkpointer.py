"""Checkpoints: atomic writes, exact resumption (RNG states included) and external weights.

Files are ``OUTPUT_DIR/model_NNNNNNN.pth`` / ``model_final.pth`` holding ``model``, the
registered checkpointables (optimizer, scheduler, grad scaler), ``iteration`` and
``rng_states`` (one entry per rank). ``last_checkpoint`` names the newest complete file.

Frozen sub-networks that load their own weights when the model is built (modules declaring
``self_loaded_weights = True``: a frozen VGGish, the CLIP model) never change in training, so
their tensors are not repeated in every checkpoint: they are written once per folder to ``frozen_<sha256 prefix>.pth`` and each checkpoint records
``frozen_modules`` (their key prefixes, the sha256 of their tensors and that file's name). On
load, the model's rebuilt frozen weights are used when their sha256 matches; otherwise (random
init with another seed, other weight files) the side file next to the checkpoint is loaded.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import random
import re
import shutil
import zipfile
from typing import Any, Iterator

import numpy as np
import torch
from fvcore.common.checkpoint import Checkpointer as _FvcoreCheckpointer
from fvcore.common.checkpoint import _IncompatibleKeys

from ov_avss.utils import comm
from ov_avss.utils.file_io import atomic_open

from .download import resolve_weight_path
from .model_fit import check_checkpoint_fits
from .name_map import map_external_names
from .safe_pickle import load_safe_pickle

logger = logging.getLogger(__name__)

LAST_CHECKPOINT_FILE = "last_checkpoint"
FROZEN_MODULES_KEY = "frozen_modules"
# The attribute by which a module declares that it loads its own weights when built.
SELF_LOADED_WEIGHTS = "self_loaded_weights"
_ITERATION_FILE = re.compile(r"model_(\d{7})\.pth$")


class CheckpointReadError(ValueError):
    """A checkpoint file exists but cannot be read (truncated by a crash, or not a checkpoint)."""


class FrozenWeightsError(ValueError):
    """The ``frozen_<sha>.pth`` file a checkpoint needs cannot be read (a missing one raises
    ``FileNotFoundError``)."""


def self_loaded_frozen_modules(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """``{prefix: module}`` of the frozen sub-networks that load their own weights at build.

    A module says it builds its own weights (from its own weight key, e.g. ``MODEL.AUDIO.WEIGHTS``)
    with the attribute ``self_loaded_weights = True`` (VGGish, the open_clip CLIP model); it
    counts when it has parameters and none is trainable (a VGGish trained along is checkpointed
    like any other part). The outermost such module is taken.
    """
    found: dict[str, torch.nn.Module] = {}
    for name, module in model.named_modules():
        if not name or not getattr(module, SELF_LOADED_WEIGHTS, False) or any(name.startswith(p + ".") for p in found):
            continue
        parameters = list(module.parameters())
        if parameters and not any(p.requires_grad for p in parameters):
            found[name] = module
    return found


def _frozen_state(modules: dict[str, torch.nn.Module]) -> tuple[dict[str, torch.Tensor], str]:
    """The frozen modules' tensors under their full model keys, and the sha256 of names and bytes."""
    state: dict[str, torch.Tensor] = {}
    digest = hashlib.sha256()
    for prefix, module in sorted(modules.items()):
        for key, tensor in module.state_dict().items():
            full_key = f"{prefix}.{key}"
            tensor = tensor.detach().cpu().contiguous()
            state[full_key] = tensor
            digest.update(full_key.encode())
            digest.update(str(tensor.dtype).encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return state, digest.hexdigest()


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


def _torch_load(filename: str) -> Any:
    try:
        return torch.load(filename, map_location=torch.device("cpu"), weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        # torch reports a truncated zip as "failed finding central directory", without the file.
        size = os.path.getsize(filename)
        raise CheckpointReadError(
            f"Cannot read checkpoint {filename} ({size} bytes): it is truncated or not a torch "
            f"checkpoint ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from error


def check_checkpoint_complete(filename: str) -> None:
    """Cheaply refuse a ``.pth`` checkpoint cut short (a torch zip archive without its central
    directory, which is written last), reading only the file's ends; other files pass.

    Raises:
        CheckpointReadError: naming the file and its size.
    """
    if filename.endswith(".pth") and os.path.isfile(filename) and not zipfile.is_zipfile(filename):
        with open(filename, "rb") as f:
            starts_as_zip = f.read(4) == b"PK\x03\x04"
        if starts_as_zip:
            raise CheckpointReadError(
                f"Cannot read checkpoint {filename} ({os.path.getsize(filename)} bytes): it is truncated "
                "(a torch archive without its central directory)"
            )


def read_checkpoint_file(filename: str) -> dict[str, Any]:
    """Read a checkpoint or weight file as ``{"model": state_dict, ...}``, as the checkpointer
    loads it: ``.pkl`` (detectron2) with the allow-list unpickler, anything else with
    ``torch.load(weights_only=True)``; a bare state dict is wrapped.

    An ``http(s)://`` address is downloaded once into the cache first (``download.py``).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        WeightDownloadError: an address that cannot be downloaded into a weight file.
        CheckpointReadError: truncated or not a torch checkpoint.
        ValueError: not a dict, or ``model`` entries that are not tensors / numpy arrays.
    """
    filename = resolve_weight_path(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"Checkpoint / weight file not found: {filename}")
    if filename.endswith(".pkl"):
        data = load_safe_pickle(filename)
        if not isinstance(data, dict):
            raise ValueError(
                f"{filename}: expected a detectron2 weight pickle holding a dict, got {type(data).__name__}"
            )
        # detectron2 files wrap the weights as {"model": ..., "__author__": ...}; older
        # ones are a bare {name: array} mapping.
        state_dict = data["model"] if "model" in data else data
        data = {"model": state_dict, "__author__": data.get("__author__", "unknown")}
    else:
        data = _torch_load(filename)
        if not isinstance(data, dict):
            raise ValueError(f"{filename}: expected a checkpoint dict or a state dict, got {type(data).__name__}")
        if "model" not in data:
            data = {"model": data}
    non_tensors = [k for k, v in data["model"].items() if not isinstance(v, (torch.Tensor, np.ndarray))]
    if non_tensors:
        raise ValueError(
            f"{filename}: checkpoint 'model' entries must be tensors or numpy arrays; "
            f"{len(non_tensors)} are not, e.g. '{non_tensors[0]}' "
            f"({type(data['model'][non_tensors[0]]).__name__})"
        )
    return data


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
        self._loading_path = ""

    def save(self, name: str, *, collective: bool = True, **kwargs: Any) -> None:
        """Write ``save_dir/<name>.pth`` atomically, then point ``last_checkpoint`` at it.

        ``collective`` (the default) gathers every rank's RNG states and must be called on all
        ranks; ``collective=False`` (saving after an error on one rank) keeps only this
        process's states.
        """
        rng_states = comm.all_gather(capture_rng_states()) if collective else [capture_rng_states()]
        if not self.save_dir or not self.save_to_disk:
            return
        state_dict = self.model.state_dict()
        data: dict[str, Any] = {}
        frozen = self_loaded_frozen_modules(self.model)
        if frozen:
            frozen_state, digest = _frozen_state(frozen)
            frozen_file = f"frozen_{digest[:16]}.pth"
            frozen_path = os.path.join(self.save_dir, frozen_file)
            if not os.path.isfile(frozen_path):
                self.logger.info("Saving the frozen weights of %s once to %s", ", ".join(sorted(frozen)), frozen_path)
                with atomic_open(frozen_path, "wb") as f:
                    torch.save(frozen_state, f)
            state_dict = {k: v for k, v in state_dict.items() if k not in frozen_state}
            data[FROZEN_MODULES_KEY] = {"prefixes": sorted(frozen), "sha256": digest, "file": frozen_file}
        data["model"] = state_dict
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

    def save_alias(self, name: str, alias: str) -> None:
        """Make ``save_dir/<alias>.pth`` the checkpoint ``<name>.pth`` just saved, as a hard link
        (replacing an older ``<alias>.pth`` atomically), and point ``last_checkpoint`` at it."""
        if not self.save_dir or not self.save_to_disk:
            return
        source = os.path.join(self.save_dir, f"{name}.pth")
        target = os.path.join(self.save_dir, f"{alias}.pth")
        temporary = os.path.join(self.save_dir, f".{alias}.pth.link")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        try:
            os.link(source, temporary)
        except OSError as error:  # a file system without hard links: a copy, then the same rename
            self.logger.warning("Cannot hard-link %s (%s); writing %s as a copy", source, error, target)
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
        self.logger.info("Saved checkpoint %s as a link to %s", target, source)
        self.tag_last_checkpoint(f"{alias}.pth")

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        """fvcore's ``resume_or_load``; when the last checkpoint cannot be read (truncated by a
        crash while the file system lost the rename, or damaged later), resumes from the newest
        earlier ``model_NNNNNNN.pth`` that can, and logs which file was skipped and why."""
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        last = self.get_checkpoint_file()
        try:
            return self.load(last)
        except CheckpointReadError as error:
            bad_error = error
        for candidate in self._earlier_checkpoints(last):
            try:
                checkpoint = self.load(candidate)
            except CheckpointReadError as error:
                self.logger.warning("Skipping %s as well: %s", candidate, error)
                continue
            self.logger.warning("Resuming from %s instead of the last checkpoint: %s", candidate, bad_error)
            return checkpoint
        raise CheckpointReadError(f"{bad_error}; no earlier readable model_NNNNNNN.pth in {self.save_dir}")

    def _earlier_checkpoints(self, last: str) -> list[str]:
        """``model_NNNNNNN.pth`` files of ``save_dir`` other than ``last``, newest first."""
        files = [p for p in glob.glob(os.path.join(self.save_dir, "model_*.pth")) if _ITERATION_FILE.search(p)]
        files = [p for p in files if os.path.abspath(p) != os.path.abspath(last)]
        return sorted(files, key=lambda p: int(_ITERATION_FILE.search(p).group(1)), reverse=True)

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
        """fvcore's ``load``; an ``http(s)://`` ``path`` is read from the download cache.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            WeightDownloadError: an address that cannot be downloaded into a weight file.
            CheckpointReadError: ``path`` is truncated or not a checkpoint (the message names it).
        """
        path = resolve_weight_path(path)
        if path and not os.path.isfile(path):
            raise FileNotFoundError(f"Checkpoint / weight file not found: {path}")
        self._loading_path = path
        return super().load(path, checkpointables)

    def _load_file(self, filename: str) -> dict[str, Any]:
        return read_checkpoint_file(filename)

    def _restore_frozen_modules(self, checkpoint: dict[str, Any]) -> list[str]:
        """Make the frozen modules a checkpoint omitted equal to the ones it was trained with;
        returns their prefixes (their keys are not missing)."""
        record = checkpoint.pop(FROZEN_MODULES_KEY, None)
        if record is None:
            return []
        modules = self_loaded_frozen_modules(self.model)
        prefixes = list(record["prefixes"])
        if sorted(modules) == prefixes and _frozen_state(modules)[1] == record["sha256"]:
            self.logger.info("Frozen %s: the weights built from their own files match the checkpoint's", ", ".join(prefixes))
            return prefixes
        side_file = os.path.join(os.path.dirname(self._loading_path), record["file"])
        if not os.path.isfile(side_file):
            raise FileNotFoundError(
                f"{self._loading_path} was trained with frozen {', '.join(prefixes)} weights of sha256 "
                f"{record['sha256'][:16]}, which differ from the ones this model built, and their file "
                f"{side_file} is missing: copy it next to the checkpoint, or build the model with the "
                "same weight files / RANDOM_INIT seed"
            )
        self.logger.info("Frozen %s differ from the built ones: loading them from %s", ", ".join(prefixes), side_file)
        try:
            checkpoint["model"].update(_torch_load(side_file))
        except CheckpointReadError as error:  # not the checkpoint's fault: no earlier one would load
            raise FrozenWeightsError(
                f"{error}. {self._loading_path} needs it for its frozen {', '.join(prefixes)}: restore the "
                "file, or build the model with the weight files / RANDOM_INIT seed it was trained with"
            ) from error
        return []

    def _load_model(self, checkpoint: dict[str, Any]) -> _IncompatibleKeys:
        restored_prefixes = self._restore_frozen_modules(checkpoint)
        state_dict = checkpoint["model"]
        model_keys = self.model.state_dict().keys()
        # The meta-architecture's own release names (registered by its family) apply first.
        mapping = map_external_names(state_dict, model_keys, architecture=type(self.model).__name__)
        if mapping.dropped:
            self.logger.info(
                "Dropping checkpoint entries this model does not load (constants it rebuilds, parts the release never used): %s",
                "; ".join(f"{key} ({why})" for key, why in sorted(mapping.dropped.items())),
            )
        if mapping.unmapped:
            self.logger.info(
                "%d checkpoint keys match no model name and no name-map rule; they are reported "
                "as unexpected below.",
                len(mapping.unmapped),
            )
        for name, keys in mapping.collisions.items():
            self.logger.warning("Checkpoint keys %s all map onto %s; loading the first", keys, name)
        checkpoint["model"] = mapping.state_dict
        check_checkpoint_fits(self.model, mapping.state_dict, self._loading_path)
        incompatible = super()._load_model(checkpoint)
        missing = [k for k in incompatible.missing_keys if not any(k.startswith(p + ".") for p in restored_prefixes)]
        return incompatible._replace(missing_keys=missing)
