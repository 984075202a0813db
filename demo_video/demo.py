"""Audio-visual segmentation of any video: open-vocabulary segments or instance tracks.

    python demo_video/demo.py --config-file configs/avsbench/OV_AVSS_R50.yaml \
        --input clip.mp4 --vocabulary "dog,piano,man" --output out/ MODEL.WEIGHTS model.pth
    python demo_video/demo.py --config-file configs/avis/AVISM_R50_IN.yaml \
        --input clip.mp4 --output out/ MODEL.AVISM.AUDIO_ENCODER_ON True MODEL.WEIGHTS avism.pth

The config's MODEL.META_ARCHITECTURE picks the demo (ov_avss.demo.build_demo). OV_AVSS writes
``out/overlay.mp4`` (masks, names and scores over the frames, with the input's audio),
``out/masks/NNNNNN.png`` (palette PNGs: index = position of the name in the vocabulary + 1) and
``out/segments.json`` (per frame: category, score and COCO RLE mask of each segment). AVISM
writes ``out/overlay.mp4`` (each track in its colour with ``#id name score``),
``out/track_masks/NNNNNN.png`` (index = track id, 0 = background) and ``out/results.json`` (the
tracks in the AVIS reference's format). MODEL.WEIGHTS may be a local file or an http(s)://
address (downloaded once into $FVCORE_CACHE, default ~/.torch/iopath_cache). Bad input
(unreadable file, no audio track, empty or duplicate vocabulary, a vocabulary for AVISM, a config
value of the wrong type, weights that are unreachable, unsafe, truncated or of another model, an
--output that cannot be written) ends in one ``error:`` line and exit code 2; a run that fails
leaves no new output folder behind.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

# Runnable as a script from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ov_avss.checkpoint import (  # noqa: E402
    CheckpointMismatchError,
    CheckpointReadError,
    UnsafePickleError,
    WeightDownloadError,
    check_checkpoint_complete,
)
from ov_avss.config import ConfigKeyError, get_cfg  # noqa: E402
from ov_avss.demo import (  # noqa: E402
    DemoInputError,
    DemoRequest,
    VideoPredictor,
    build_demo,
    parse_vocabulary,
    read_vocabulary_file,
)
from ov_avss.demo.frame_source import open_demo_input  # noqa: E402
from ov_avss.utils.file_io import check_writable_folder  # noqa: E402

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
    vocabulary.add_argument("--vocabulary", default=None,
                            help='OV_AVSS: comma-separated category names, e.g. "dog,piano" '
                                 "(default: the names of DATASETS.TEST[0]); refused for AVISM")
    vocabulary.add_argument("--vocabulary-file", default=None, help="OV_AVSS: file with one category name per line")
    parser.add_argument("--video-id", type=int, default=None,
                        help="AVISM: the video_id written into results.json (default 1)")
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
    overrides = list(args.opts) + list(args.trailing_opts)
    if len(overrides) % 2 != 0:
        raise DemoInputError(f"Config overrides must come in KEY VALUE pairs, got {overrides}")
    try:
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(overrides)
    except ValueError as e:  # a value of the wrong type, a file that is not YAML (both named)
        raise DemoInputError(str(e)) from e
    if args.device is not None:
        cfg.MODEL.DEVICE = args.device
    cfg.freeze()
    return cfg


def requested_vocabulary(args: argparse.Namespace) -> list[str] | None:
    """The vocabulary the user gave, or None (the demo's default)."""
    if args.vocabulary_file is not None:
        return read_vocabulary_file(args.vocabulary_file)
    if args.vocabulary is not None:
        return parse_vocabulary(args.vocabulary.split(","), "--vocabulary")
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s %(levelname)s: %(message)s")
    try:
        cfg = setup_cfg(args)
        # Before the model is built: a run that cannot write its outputs fails at once.
        check_writable_folder(args.output, "--output")
        check_checkpoint_complete(cfg.MODEL.WEIGHTS)
        demo = build_demo(cfg, DemoRequest(vocabulary=requested_vocabulary(args), video_id=args.video_id))
        demo_input = open_demo_input(args.input, args.audio, args.fps, args.allow_silent)
        predictor = VideoPredictor(cfg)
        outputs = demo.run(predictor, demo_input, args.output, show_progress=not args.no_progress)
    except CheckpointMismatchError as e:
        e.config_file = args.config_file
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WeightDownloadError as e:
        print(f"error: MODEL.WEIGHTS: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DemoInputError, ConfigKeyError, CheckpointReadError, UnsafePickleError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in demo.report(outputs):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
