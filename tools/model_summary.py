#!/usr/bin/env python
"""Parameter counts of a model config, without reading any weight file.

    python tools/model_summary.py --config-file configs/tiny/OV_AVSS_tiny.yaml [KEY VALUE ...]

Builds the model on the CPU with random audio-encoder and CLIP weights (``RANDOM_INIT`` forced,
``MODEL.WEIGHTS`` never read) and prints one line per top-level component, then exactly two
final lines ``trainable_params: N`` and ``frozen_params: N``. The counts for the tiny config are
derived by hand in docs/model.md.
"""
from __future__ import annotations

import argparse
import logging
import sys

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from torch import nn  # noqa: E402

from ov_avss.config import ConfigKeyError, get_cfg  # noqa: E402


def component_lines(model: nn.Module) -> tuple[list[str], int, int]:
    """One line per top-level child: name, parameters, trainable / frozen split; plus totals."""
    lines = []
    total_trainable = total_frozen = 0
    for name, child in model.named_children():
        trainable = sum(p.numel() for p in child.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in child.parameters() if not p.requires_grad)
        state = "trainable" if frozen == 0 else "frozen" if trainable == 0 else "partly frozen"
        if trainable + frozen == 0:
            state = "no parameters"
        lines.append(
            f"{name:<22s} {trainable + frozen:>12d} params  {state:<14s} "
            f"(trainable {trainable}, frozen {frozen})"
        )
        total_trainable += trainable
        total_frozen += frozen
    return lines, total_trainable, total_frozen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="model config (YAML)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    from ov_avss.data.catalog import with_seen_categories
    from ov_avss.modeling import build_model_without_pretrained_files

    cfg = get_cfg()
    try:
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(list(args.opts))
    except (ConfigKeyError, ValueError, OSError) as error:  # before the model is built
        print(f"error: {error}", file=sys.stderr)
        return 2
    model = build_model_without_pretrained_files(with_seen_categories(cfg))
    lines, trainable, frozen = component_lines(model)
    for line in lines:
        print(line)
    print(f"trainable_params: {trainable}")
    print(f"frozen_params: {frozen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
