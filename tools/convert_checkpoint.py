"""Convert a checkpoint of an original release (OV-AVSS, AVISM, AVSBench's TPAVI) into this framework's names.

    python tools/convert_checkpoint.py --config-file configs/avsbench/OV_AVSS_R50.yaml \
        --input pre_models/model_ov_avss_r50.pth --output pre_models/ov_avss_r50_converted.pth

(Swin-B: ``configs/avsbench/swin/OV_AVSS_SwinB.yaml`` and ``model_ov_avss_swinb.pth``; AVISM:
``configs/avis/AVISM_R50_IN.yaml`` and ``AVISM_R50_IN.pth``, likewise the R50-COCO and Swin-L
configs and files.) The
published configs build the release's model, so no override is needed; with an extension on
(``MODEL.OV_EXTENSIONS``) the release's file lacks its layers and conversion reports them missing.

The release's files are detectron2 checkpoints ``{"model": state_dict, ...}`` with the original
module names. The file is read and its names mapped exactly as the checkpointer loads it
(``ov_avss.checkpoint.read_checkpoint_file`` and ``ov_avss.checkpoint.name_map.map_external_names``
with the rules the model's meta-architecture registers, e.g. AVISM's and TPAVI's; ``--input`` may be an
``http(s)://`` address, downloaded once into the weight cache);
the result must load into the model built from the config with ``strict=True`` (VGGish and CLIP
are built with random weights: no pretrained file is read), except for frozen sub-networks the file
does not hold at all and the model loads from their own files at build (the AVSBench release
saves no VGGish): those are listed and left out of the output. TPAVI release files (a bare state
dict): ``--config-file configs/avsbench/closed_set/TPAVI_<S4|MS3|AVSS>_<R50|PVTv2>.yaml``. Keys the
release stores but this model does not use (constants, CLIP's mask-prompt embedding) are listed as dropped, with why. On
any unmapped key, missing key, shape mismatch or name collision the tool lists them all and
exits with code 1; on success it writes ``--output`` atomically and prints ``unmapped: 0``.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

import torch

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.checkpoint import (  # noqa: E402
    CheckpointMismatchError,
    check_checkpoint_fits,
    is_url,
    read_checkpoint_file,
)
from ov_avss.checkpoint.checkpointer import self_loaded_frozen_modules  # noqa: E402
from ov_avss.checkpoint.name_map import map_external_names  # noqa: E402
from ov_avss.config import ConfigKeyError, get_cfg  # noqa: E402
from ov_avss.data.catalog import with_seen_categories  # noqa: E402
from ov_avss.modeling.meta_arch.build import build_model_without_pretrained_files  # noqa: E402
from ov_avss.utils.file_io import atomic_open  # noqa: E402

EXIT_CONVERSION_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass
class ConversionReport:
    """What conversion found; ``ok`` when the converted dict matches the model exactly."""

    unmapped: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    missing: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    # (our key, original key, their shape, our shape)
    shape_mismatches: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    collisions: list[tuple[str, list[str]]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    # Frozen sub-networks the file does not hold at all and the model loads from their own files
    # at build (e.g. VGGish from MODEL.AUDIO.WEIGHTS; the AVSBench release saves no VGGish).
    built_from_own_files: list[str] = field(default_factory=list)
    # Set when the converted weights do not fit the model (the checkpointer's own check).
    misfit: CheckpointMismatchError | None = None

    @property
    def ok(self) -> bool:
        return not (self.unmapped or self.missing or self.shape_mismatches or self.collisions)

    def lines(self) -> list[str]:
        out = [f"dropped: {len(self.dropped)}"] + [f"  {key} ({why})" for key, why in self.dropped]
        if self.built_from_own_files:
            out += [f"not in the file, loaded from their own weight files at build: {', '.join(self.built_from_own_files)}"]
        out += [f"unmapped: {len(self.unmapped)}"] + [f"  {key} {list(shape)}" for key, shape in self.unmapped]
        out += [f"missing: {len(self.missing)}"] + [f"  {key} {list(shape)}" for key, shape in self.missing]
        out += [f"shape mismatches: {len(self.shape_mismatches)}"] + [
            f"  {ours} (from {theirs}): checkpoint {list(their_shape)}, model {list(our_shape)}"
            for ours, theirs, their_shape, our_shape in self.shape_mismatches
        ]
        if self.collisions:
            out += [f"name collisions: {len(self.collisions)}"] + [
                f"  {ours} <- {', '.join(theirs)}" for ours, theirs in self.collisions
            ]
        return out


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], model: torch.nn.Module
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Map ``state_dict`` onto ``model`` as the checkpointer does and compare names and shapes
    with it."""
    model_state = model.state_dict()
    mapping = map_external_names(state_dict, model_state.keys(), architecture=type(model).__name__)
    report = ConversionReport(
        unmapped=[(key, tuple(state_dict[key].shape)) for key in mapping.unmapped],
        collisions=list(mapping.collisions.items()),
        dropped=list(mapping.dropped.items()),
    )
    converted = {name: mapping.state_dict[name] for name in mapping.sources}
    report.built_from_own_files = [
        prefix for prefix in self_loaded_frozen_modules(model)
        if not any(key.startswith(prefix + ".") for key in converted)
    ]
    for ours, tensor in model_state.items():
        if any(ours.startswith(prefix + ".") for prefix in report.built_from_own_files):
            continue
        if ours not in converted:
            report.missing.append((ours, tuple(tensor.shape)))
        elif tuple(converted[ours].shape) != tuple(tensor.shape):
            report.shape_mismatches.append(
                (ours, mapping.sources[ours][0], tuple(converted[ours].shape), tuple(tensor.shape))
            )
    return converted, report


def convert_checkpoint(cfg, input_path: str, output_path: str) -> ConversionReport:
    """Convert ``input_path``; write ``output_path`` (``{"model": state_dict}``) only when the
    result loads into the model of ``cfg`` with ``strict=True``."""
    checkpoint = read_checkpoint_file(input_path)
    state_dict = {key: torch.as_tensor(value) for key, value in checkpoint.pop("model").items()}
    model = build_model_without_pretrained_files(with_seen_categories(cfg))
    converted, report = convert_state_dict(state_dict, model)
    report.dropped += [(key, "not model weights") for key in sorted(checkpoint)]
    try:
        check_checkpoint_fits(model, converted, input_path)
    except CheckpointMismatchError as error:
        report.misfit = error
    if not report.ok:
        return report
    own_files = tuple(prefix + "." for prefix in report.built_from_own_files)
    incompatible = model.load_state_dict(converted, strict=not own_files)
    assert all(key.startswith(own_files) for key in incompatible.missing_keys) and not incompatible.unexpected_keys
    state = {key: value for key, value in model.state_dict().items() if not key.startswith(own_files)}
    source = input_path if is_url(input_path) else os.path.abspath(input_path)
    with atomic_open(output_path, "wb") as f:
        torch.save({"model": state, "__source__": source}, f)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument(
        "--input", required=True,
        help="original OV-AVSS / AVISM checkpoint (.pth, or a detectron2 .pkl): a path or an http(s):// "
             "address (downloaded once into $FVCORE_CACHE, default ~/.torch/iopath_cache)",
    )
    parser.add_argument("--output", required=True, help="converted checkpoint to write (.pth)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    args = parser.parse_args(argv)
    try:
        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
        report = convert_checkpoint(cfg, args.input, args.output)
    except (OSError, ValueError, ConfigKeyError) as e:  # CheckpointReadError: ValueError; WeightDownloadError: OSError
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(report.lines()))
    if not report.ok:
        if report.misfit is not None:  # the error MODEL.WEIGHTS would give
            report.misfit.config_file = args.config_file
            reason = str(report.misfit)
        else:
            reason = f"{args.input} does not match the model of {args.config_file}"
        print(f"error: {reason}; nothing written", file=sys.stderr)
        return EXIT_CONVERSION_FAILED
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
