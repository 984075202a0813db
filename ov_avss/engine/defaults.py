"""Command line, per-process setup (output folder, logs, merged config, seeds) and the standard
``main`` shared by ``train_net.py`` and tools."""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from typing import Any, Callable, NoReturn, Sequence

import numpy as np
import torch

from ov_avss.checkpoint import check_checkpoint_complete
from ov_avss.checkpoint.download import WeightDownloadError, fetch_weights, is_url
from ov_avss.config import CfgNode, get_cfg
from ov_avss.utils import comm
from ov_avss.utils.file_io import atomic_open, check_writable_folder
from ov_avss.utils.logger import setup_logger

from .output_lock import OutputDirInUseError, output_dir_lock

logger = logging.getLogger(__name__)

# Exit status of a run whose command line, files or data are wrong (as argparse's own errors).
EXIT_BAD_INPUT = 2

# A project's ``add_*_config(cfg)``: adds its own keys (with defaults) to the default config, as
# Mask2Former's ``add_maskformer2_config``; run before any YAML file or override is merged.
AddConfigFn = Callable[[CfgNode], None]


def default_argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """detectron2's flags: config file, resume / eval-only, processes and machines, overrides."""
    parser = argparse.ArgumentParser(
        epilog=epilog
        or (
            "Examples:\n"
            "  train:    python train_net.py --config-file cfg.yaml --num-gpus 8\n"
            "  resume:   python train_net.py --config-file cfg.yaml --num-gpus 8 --resume\n"
            "  evaluate: python train_net.py --config-file cfg.yaml --eval-only MODEL.WEIGHTS m.pth\n"
            "  torchrun: torchrun --nproc-per-node 8 train_net.py --config-file cfg.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to a config file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT_DIR/last_checkpoint if it exists (else start from MODEL.WEIGHTS)",
    )
    parser.add_argument("--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS and exit")
    parser.add_argument(
        "--num-gpus", type=int, default=1, help="processes per machine (CPU processes without GPUs)"
    )
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="rank of this machine (0-based)")
    parser.add_argument(
        "--dist-url",
        default="auto",
        help="rendezvous URL, e.g. tcp://<machine-0 address>:29500; 'auto' picks a free local port",
    )
    parser.add_argument(
        "opts",
        default=[],
        nargs=argparse.REMAINDER,
        help="config overrides as KEY VALUE pairs, e.g. SOLVER.BASE_LR 0.001",
    )
    return parser


def _move_misplaced_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flags written after the ``KEY VALUE`` overrides (``... SOLVER.MAX_ITER 10 --resume``)
    land in ``opts``; parse them as flags instead."""
    actions = parser._option_string_actions  # argparse's map of option strings to actions
    opts: list[str] = []
    flags: list[str] = []
    index = 0
    while index < len(args.opts):
        token = args.opts[index]
        if token in actions:
            width = 1 if actions[token].nargs == 0 else 2  # a flag, or an option and its value
            flags.extend(args.opts[index:index + width])
            index += width
        else:
            opts.append(token)
            index += 1
    if flags:
        parser.parse_args(flags, namespace=args)
        args.opts = opts  # parsing the flags alone reset the overrides


def parse_and_check_args(
    parser: argparse.ArgumentParser | None = None,
    argv: list[str] | None = None,
    add_config_fns: Sequence[AddConfigFn] = (),
) -> argparse.Namespace:
    """Parse the command line (``default_argument_parser`` unless given) and check it before
    any expensive work: the config file, override keys and value types (against the defaults
    plus the keys ``add_config_fns`` add, see ``setup_cfg``), that ``OUTPUT_DIR`` can be written,
    and that ``MODEL.WEIGHTS`` exists and is not cut short when it will be read (an ``http(s)://``
    address is downloaded into the cache here, before ``launch`` starts any worker). Flags placed after the
    overrides are accepted. A mistake ends the process with one ``error: ...`` line on stderr
    and exit status 2, like argparse's own errors."""
    parser = parser or default_argument_parser()
    args = parser.parse_args(argv)
    _move_misplaced_flags(parser, args)
    try:
        cfg = setup_cfg(args, add_config_fns)
        _check_weights_and_output(cfg, args)
    except (KeyError, ValueError, OSError) as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    return args


def _check_weights_and_output(cfg: CfgNode, args: argparse.Namespace) -> None:
    output_dir = cfg.OUTPUT_DIR
    resuming = args.resume and os.path.isfile(os.path.join(output_dir, "last_checkpoint"))
    check_writable_folder(output_dir, "OUTPUT_DIR")  # first: before a download that may take long
    if cfg.MODEL.WEIGHTS and not resuming:
        weights = cfg.MODEL.WEIGHTS
        if is_url(weights):
            # Downloaded here: with --num-gpus once, before the workers start; they read the cache.
            try:
                weights = fetch_weights(weights)
            except WeightDownloadError as error:
                raise WeightDownloadError(f"MODEL.WEIGHTS: {error}") from error
        elif not os.path.isfile(weights):
            raise FileNotFoundError(f"MODEL.WEIGHTS: weight file '{weights}' not found")
        check_checkpoint_complete(weights)


def setup_cfg(args: argparse.Namespace, add_config_fns: Sequence[AddConfigFn] = ()) -> CfgNode:
    """Defaults, then each ``add_*_config(cfg)`` of ``add_config_fns`` (a project's own keys),
    then ``--config-file``, then the ``KEY VALUE`` overrides; frozen. A negative ``SEED`` stays
    negative here: ``default_setup`` resolves it, once per job."""
    cfg = get_cfg()
    for add_config in add_config_fns:
        add_config(cfg)
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts))
    cfg.freeze()
    return cfg


def seed_all_rngs(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_seed(cfg: CfgNode) -> int:
    """The job's base seed: ``SEED``, or for a negative ``SEED`` a fresh draw on rank 0 shared
    by every rank and written back into ``cfg.SEED`` (which stays frozen if it was), so that
    everything reading the config (the training sampler, ``OUTPUT_DIR/config.yaml``, reports)
    sees the seed that was used."""
    if cfg.SEED >= 0:
        return int(cfg.SEED)
    drawn = comm.all_gather(int.from_bytes(os.urandom(4), "little") % 2**31)[0]
    was_frozen = cfg.is_frozen()
    cfg.defrost()
    cfg.SEED = drawn
    if was_frozen:
        cfg.freeze()
    logger.info("SEED is negative; this run uses SEED %d (set SEED %d to repeat it)", drawn, drawn)
    return drawn


def default_setup(cfg: CfgNode, args: argparse.Namespace) -> None:
    """Per-process setup at the start of a job.

    Creates ``OUTPUT_DIR``, sets up logging to ``OUTPUT_DIR/log.txt``, logs the environment and
    arguments, resolves a negative ``SEED`` into ``cfg`` (``resolve_seed``), writes the merged
    config to ``OUTPUT_DIR/config.yaml`` (main process), seeds every RNG with ``SEED + rank``
    and applies ``CUDNN_BENCHMARK`` / ``DETERMINISTIC``.
    """
    output_dir = cfg.OUTPUT_DIR
    rank = comm.get_rank()
    if comm.is_main_process():
        os.makedirs(output_dir, exist_ok=True)
    comm.synchronize()
    setup_logger(output_dir, distributed_rank=rank, name="ov_avss")
    setup_logger(output_dir, distributed_rank=rank, name="fvcore")
    logger.info(
        "Rank %d of %d; Python %s; torch %s; %d torch threads",
        rank, comm.get_world_size(), sys.version.split()[0], torch.__version__, torch.get_num_threads(),
    )
    logger.info("Command line arguments: %s", args)
    seed = resolve_seed(cfg) + rank
    if comm.is_main_process():
        config_path = os.path.join(output_dir, "config.yaml")
        with atomic_open(config_path, "w") as f:
            f.write(cfg.dump())
        logger.info("Full config saved to %s", os.path.abspath(config_path))
    seed_all_rngs(seed)
    logger.info("Seeded Python, numpy and torch with %d (SEED %d + rank %d)", seed, cfg.SEED, rank)
    torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    if cfg.DETERMINISTIC:
        # CUBLAS needs this workspace setting for deterministic matmuls.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def default_main(
    args: argparse.Namespace, trainer_cls: Any, add_config_fns: Sequence[AddConfigFn] = ()
) -> dict[str, Any]:
    """What ``train_net.py`` runs on every process: evaluate (``--eval-only``) or train.

    ``trainer_cls`` is ``ov_avss.engine.Trainer`` or a subclass overriding its builders;
    ``add_config_fns`` add a project's config keys (``setup_cfg``; pass the same to
    ``parse_and_check_args``). Returns the evaluation results (main process; ``{}`` elsewhere).
    """
    from ov_avss.checkpoint import Checkpointer

    try:
        cfg = setup_cfg(args, add_config_fns)
        if not args.eval_only:
            # Before default_setup: bad data leaves no config.yaml, log or events behind.
            trainer_cls.check_train_data(cfg)
        with output_dir_lock(cfg.OUTPUT_DIR):
            default_setup(cfg, args)
            if args.eval_only:
                model = trainer_cls.build_model(cfg)
                Checkpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
                return trainer_cls.test(cfg, model)
            trainer = trainer_cls(cfg)
            trainer.resume_or_load(resume=args.resume)
            return trainer.train()
    except input_errors() as error:
        exit_on_input_error(error, args.config_file)


def input_errors() -> tuple[type[Exception], ...]:
    """Errors that mean the inputs of a run are wrong (a file missing, truncated or of another
    model, bad training data, another run using ``OUTPUT_DIR``), not the program: the command
    line reports them in one ``error:`` line and exits with ``EXIT_BAD_INPUT``."""
    from ov_avss.checkpoint import CheckpointMismatchError, CheckpointReadError, FrozenWeightsError
    from ov_avss.data.dataset_check import DatasetCheckError

    return (
        FileNotFoundError, CheckpointReadError, CheckpointMismatchError, DatasetCheckError, OutputDirInUseError,
        FrozenWeightsError,
    )


def exit_on_input_error(error: Exception, config_file: str) -> NoReturn:
    """Print ``error`` as the last line on stderr (the main process; other ranks log it) and
    exit with ``EXIT_BAD_INPUT``. A checkpoint that does not fit the model names ``config_file``.
    """
    from ov_avss.checkpoint import CheckpointMismatchError
    from ov_avss.data.dataset_check import DatasetCheckError

    if isinstance(error, CheckpointMismatchError):
        error.config_file = config_file
    if isinstance(error, DatasetCheckError):
        lines = [*error.problems, error.summary]
    else:
        lines = [str(error)]
    if comm.is_main_process():
        print("\n".join(lines[:-1] + [f"error: {lines[-1]}"]), file=sys.stderr)
    else:
        logger.error("Rank %d stops: %s", comm.get_rank(), lines[-1])
    raise SystemExit(EXIT_BAD_INPUT) from None
