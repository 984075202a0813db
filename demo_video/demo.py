"""Open-vocabulary audio-visual segmentation of any video, with any vocabulary.

    python demo_video/demo.py --config-file configs/avsbench/OV_AVSS_R50.yaml \
        --input clip.mp4 --vocabulary "dog,piano,man" --output out/ MODEL.WEIGHTS model.pth

Writes ``out/overlay.mp4`` (masks, names and scores over the frames, with the input's audio),
``out/masks/NNNNNN.png`` (palette PNGs: index = position of the name in the vocabulary + 1) and
``out/segments.json`` (per frame: category, score and COCO RLE mask of each segment).
Bad input (unreadable file, no audio track, empty or duplicate vocabulary) exits with code 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

# Runnable as a script from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ov_avss.config import ConfigKeyError, get_cfg  # noqa: E402
from ov_avss.data.categories import CATEGORIES  # noqa: E402
from ov_avss.demo import (  # noqa: E402
    DemoInputError,
    VideoPredictor,
    parse_vocabulary,
    read_vocabulary_file,
    run_video_demo,
)
from ov_avss.demo.frame_source import open_demo_input  # noqa: E402

logger = logging.getLogger("ov_avss.demo")

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="model config (YAML)")
    parser.add_argument(
        "--input", required=True,
        help="a video file with an audio track (mp4, mkv, avi, webm...) or a frame folder "
             "(0.jpg, 1.jpg, ... or a frames/ subfolder)",
    )
    parser.add_argument(
        "--audio", default=None,
        help="audio file to use instead of the video's track (default for a frame folder: its audio.wav)",
    )
    vocabulary = parser.add_mutually_exclusive_group()
    vocabulary.add_argument("--vocabulary", default=None, help='comma-separated category names, e.g. "dog,piano"')
    vocabulary.add_argument("--vocabulary-file", default=None, help="file with one category name per line")
    parser.add_argument("--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="overrides MODEL.DEVICE")
    parser.add_argument("--allow-silent", action="store_true", help="run with silence when there is no audio")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--opts", nargs="*", default=[], metavar="KEY VALUE", help="config overrides")
    parser.add_argument("trailing_opts", nargs=argparse.REMAINDER, metavar="KEY VALUE",
                        help="config overrides, detectron2 style")
    return parser


def setup_cfg(args: argparse.Namespace):
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    overrides = list(args.opts) + list(args.trailing_opts)
    if len(overrides) % 2 != 0:
        raise DemoInputError(f"Config overrides must come in KEY VALUE pairs, got {overrides}")
    cfg.merge_from_list(overrides)
    if args.device is not None:
        cfg.MODEL.DEVICE = args.device
    cfg.freeze()
    return cfg


def resolve_vocabulary(args: argparse.Namespace) -> list[str]:
    if args.vocabulary_file is not None:
        return read_vocabulary_file(args.vocabulary_file)
    if args.vocabulary is not None:
        return parse_vocabulary(args.vocabulary.split(","), "--vocabulary")
    return list(CATEGORIES)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s %(levelname)s: %(message)s")
    try:
        cfg = setup_cfg(args)
        vocabulary = resolve_vocabulary(args)
        demo_input = open_demo_input(args.input, args.audio, args.fps, args.allow_silent)
    except (DemoInputError, ConfigKeyError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logger.info("Vocabulary (%d names): %s", len(vocabulary), ", ".join(vocabulary))
    predictor = VideoPredictor(cfg)
    try:
        outputs = run_video_demo(
            predictor,
            demo_input,
            vocabulary,
            args.output,
            window_size=cfg.INPUT.SAMPLING_FRAME_NUM,
            show_progress=not args.no_progress,
        )
    except DemoInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"overlay video: {outputs.video_path}")
    print(f"palette masks: {outputs.mask_dir}/ ({outputs.num_frames} frames)")
    print(f"segments: {outputs.json_path}")
    for line in summary_lines(outputs, cfg):
        print(line)
    return 0


def summary_lines(outputs, cfg) -> list[str]:
    """Segments per name, frames without any, and why every frame may be empty."""
    per_name = ", ".join(f"{name} {count}" for name, count in outputs.segments_per_name.items())
    lines = [
        f"segments per name: {per_name or 'none'}",
        f"frames with no segment: {outputs.frames_without_segments} of {outputs.num_frames}",
    ]
    if outputs.frames_without_segments == outputs.num_frames:
        untrained = [
            reason
            for reason, applies in (
                ("MODEL.WEIGHTS is empty (the model is untrained)", not cfg.MODEL.WEIGHTS),
                ("MODEL.AUDIO.RANDOM_INIT is True (random VGGish)", cfg.MODEL.AUDIO.RANDOM_INIT),
                ("MODEL.CLIP_ADAPTER.RANDOM_INIT is True (random CLIP)", cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT),
            )
            if applies
        ]
        if untrained:
            lines.append(
                "hint: no frame has a segment; expected here because " + "; ".join(untrained)
                + ". Give MODEL.WEIGHTS a trained checkpoint (docs/demo.md)."
            )
        else:
            lines.append(
                "hint: no frame has a segment; the vocabulary may not name what sounds in the video, "
                "or MODEL.MASK_FORMER.TEST.MASK_LOGIT_THRESHOLD / OBJECT_MASK_THRESHOLD may be too strict"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
