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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from torch import nn  # noqa: E402

from ov_avss.config import get_cfg  # noqa: E402


def load_summary_cfg(config_file: str, overrides: list[str]):
    """The config with every pretrained-file read switched off and the device forced to CPU."""
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(overrides))
    cfg.MODEL.AUDIO.RANDOM_INIT = True
    cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT = True
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    return cfg


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

    from ov_avss.modeling import build_model

    model = build_model(load_summary_cfg(args.config_file, args.opts))
    lines, trainable, frozen = component_lines(model)
    for line in lines:
        print(line)
    print(f"trainable_params: {trainable}")
    print(f"frozen_params: {frozen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
