#!/usr/bin/env python
"""The quickstart main job: synthetic data, training, evaluation with and without audio, report.

    python tools/quickstart.py --config-file configs/quickstart/OV_AVSS_tiny_synthetic.yaml
    python tools/quickstart.py --config-file ... --skip-train      # evaluate OUTPUT_DIR/model_final.pth
    python tools/quickstart.py --config-file ... SOLVER.MAX_ITER 200   # KEY VALUE overrides

1. Generates the synthetic AVSBench-semantic copy into ``DATASETS.ROOT`` unless it already holds
   ``AVSBench-semantic/metadata.csv``.
2. Trains in this process (``Trainer``); the trainer's final evaluation is the ``audio`` row and
   writes palette predictions and overlay images of the first ``TEST.VISUALIZE_NUM_CLIPS`` videos.
3. Re-evaluates the final model with ``TEST.AUDIO_ABLATION`` ``zero`` and ``shuffle``.
4. Prints the per-class table, the metrics table and one line with the target checks; writes
   ``OUTPUT_DIR/quickstart_metrics.json``. Exits 0 whether or not the targets are met (it is a
   report) and non-zero on errors.

Each stage starts with a ``[k/4]`` line and the time since the start; training logs its ETA.

This is a pipeline check on synthetic data, not a benchmark. See docs/quickstart.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Sequence

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

import torch  # noqa: E402

from ov_avss.checkpoint import Checkpointer  # noqa: E402
from ov_avss.config import CfgNode, ConfigKeyError, get_cfg  # noqa: E402
from ov_avss.data.catalog import datasets_root, get_dataset_metadata  # noqa: E402
from ov_avss.data.categories import BACKGROUND  # noqa: E402
from ov_avss.data.datasets.avsbench_semantic import METADATA_FILE, SEMANTIC_DIR  # noqa: E402
from ov_avss.data.synthetic import make_synthetic_avsbench  # noqa: E402
from ov_avss.engine import Trainer, default_setup, inference_output_dir  # noqa: E402
from ov_avss.evaluation.avss_evaluator import CHART_FILE, METRICS_FILE  # noqa: E402
from ov_avss.evaluation.visualization import OVERLAY_DIR  # noqa: E402
from ov_avss.utils.file_io import write_json_atomic  # noqa: E402

# A child of the "ov_avss" logger that default_setup routes to the console and OUTPUT_DIR/log.txt.
logger = logging.getLogger("ov_avss.quickstart")

REPORT_FILE = "quickstart_metrics.json"
FINAL_MODEL_FILE = "model_final.pth"
SYNTHETIC_SEED = 0
# Settings the quickstart applies after the config file and before the command-line overrides.
QUICKSTART_DEFAULTS = ("TEST.EXPORT_PREDICTIONS", "True", "TEST.VISUALIZE_NUM_CLIPS", "4")

# Table rows: (row name, TEST.AUDIO_ABLATION); each evaluates into inference_output_dir().
AUDIO_ROW, ZEROED_ROW, SHUFFLED_ROW = "audio", "audio zeroed", "audio shuffled"
EVALUATIONS = ((AUDIO_ROW, "none"), (ZEROED_ROW, "zero"), (SHUFFLED_ROW, "shuffle"))
COLUMNS = ("mIoU_base", "mIoU_novel", "mIoU_harmonic", "mIoU", "F_score")
BASE_MIOU_TARGET = 0.55
ABLATION_DROP_TARGET = 0.15
NUM_STAGES = 4


# ------------------------------------------------------------------------------------------------
# Setup
# ------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="e.g. configs/quickstart/OV_AVSS_tiny_synthetic.yaml")
    parser.add_argument("--skip-train", action="store_true", help=f"evaluate OUTPUT_DIR/{FINAL_MODEL_FILE} only")
    parser.add_argument("opts", default=[], nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
    return parser.parse_args(argv)


def build_cfg(args: argparse.Namespace) -> CfgNode:
    """Config file, then ``QUICKSTART_DEFAULTS``, then the overrides. Frozen; a negative
    ``SEED`` is resolved into it by ``default_setup``, before the report names it."""
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(QUICKSTART_DEFAULTS))
    cfg.merge_from_list(list(args.opts))
    if len(cfg.DATASETS.TEST) != 1:
        raise ValueError(f"The quickstart reports on one test dataset; DATASETS.TEST is {list(cfg.DATASETS.TEST)}")
    metadata = get_dataset_metadata(cfg.DATASETS.TEST[0])
    if metadata.evaluator_type != "avss" or not metadata.base_names or not metadata.novel_names:
        raise ValueError(
            f"The quickstart needs an open-vocabulary AVSS test set with a base/novel split; "
            f"{metadata.name} has evaluator '{metadata.evaluator_type}', {len(metadata.base_names)} base and "
            f"{len(metadata.novel_names)} novel names"
        )
    if cfg.TEST.AUDIO_ABLATION != "none":
        raise ValueError(
            f"TEST.AUDIO_ABLATION is '{cfg.TEST.AUDIO_ABLATION}'; the quickstart runs the ablations itself "
            "and needs 'none' for its first row"
        )
    cfg.freeze()
    return cfg


def caveat_lines(cfg: CfgNode) -> list[str]:
    """What the numbers of this run can and cannot mean, from the weights the config loads."""
    random_parts = [
        name
        for name, is_random in (("CLIP", cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT), ("VGGish", cfg.MODEL.AUDIO.RANDOM_INIT))
        if is_random
    ]
    lines = ["This is a pipeline check on synthetic data, not a benchmark."]
    if random_parts:
        lines.append(
            f"{' and '.join(random_parts)} {'have' if len(random_parts) > 1 else 'has'} random weights here, so "
            "novel-category scores are meaningless (they need the real CLIP weights); base categories are "
            "learnable through the learned ensemble head."
        )
    else:
        lines.append("CLIP and VGGish load their configured weights; the data are still synthetic.")
    return lines


def print_banner(lines: Sequence[str]) -> None:
    rule = "=" * 96
    print("\n".join([rule, *(f"NOTE: {line}" for line in lines), rule]), flush=True)


def print_stage(number: int, text: str, start: float) -> None:
    """``[k/4] text (m:ss since the start)``: where the job is, for a user watching it."""
    minutes, seconds = divmod(int(time.perf_counter() - start), 60)
    print(f"\n[{number}/{NUM_STAGES}] {text} ({minutes}:{seconds:02d} since the start)", flush=True)


def ensure_dataset(cfg: CfgNode) -> dict[str, Any]:
    """Generate the synthetic dataset into the datasets root unless it already holds
    ``AVSBench-semantic/metadata.csv``; says which, and returns what it did."""
    root = datasets_root(cfg)
    metadata_path = os.path.join(root, SEMANTIC_DIR, METADATA_FILE)
    if os.path.isfile(metadata_path):
        print(f"Using the dataset at {root} ({metadata_path} exists)", flush=True)
        return {"root": root, "generated": False, "seed": None}
    print(f"{metadata_path} not found: generating the synthetic dataset (seed {SYNTHETIC_SEED}) into {root} ...", flush=True)
    start = time.perf_counter()
    make_synthetic_avsbench(root, seed=SYNTHETIC_SEED)
    print(f"Generated the synthetic dataset in {time.perf_counter() - start:.1f} s", flush=True)
    return {"root": root, "generated": True, "seed": SYNTHETIC_SEED}


# ------------------------------------------------------------------------------------------------
# Training and evaluation
# ------------------------------------------------------------------------------------------------
def train(cfg: CfgNode) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """Train from scratch (``MODEL.WEIGHTS``); returns the model, the trainer's final evaluation
    of the test dataset and the number of iterations run."""
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    dataset_name = cfg.DATASETS.TEST[0]
    if dataset_name not in results:
        raise RuntimeError(f"The trainer's final evaluation has no results for {dataset_name}: {sorted(results)}")
    return trainer.model, results[dataset_name], trainer.max_iter


def load_final_model(cfg: CfgNode) -> tuple[torch.nn.Module, int | None]:
    """The model with ``OUTPUT_DIR/model_final.pth`` loaded, and the iterations it was trained for
    (``None`` if the checkpoint does not record them)."""
    path = os.path.join(cfg.OUTPUT_DIR, FINAL_MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--skip-train evaluates {path}, which does not exist; train first")
    model = Trainer.build_model(cfg)
    extra = Checkpointer(model, save_dir=cfg.OUTPUT_DIR).load(path, checkpointables=[])
    iteration = extra.get("iteration")
    return model, None if iteration is None else int(iteration) + 1


def evaluate(cfg: CfgNode, model: torch.nn.Module) -> dict[str, Any]:
    """Evaluate ``model`` on the first test dataset with ``Trainer.test``, which writes into
    ``inference_output_dir(cfg, dataset)`` (its ``metrics.json`` included)."""
    dataset_name = cfg.DATASETS.TEST[0]
    single_dataset = cfg.clone()
    single_dataset.defrost()
    single_dataset.DATASETS.TEST = (dataset_name,)
    single_dataset.freeze()
    return Trainer.test(single_dataset, model)[dataset_name]


def ablation_cfg(cfg: CfgNode, audio_ablation: str) -> CfgNode:
    """``cfg`` with the audio ablation set; predictions and overlays only for the normal row."""
    if audio_ablation == "none":
        return cfg
    ablated = cfg.clone()
    ablated.defrost()
    ablated.TEST.AUDIO_ABLATION = audio_ablation
    ablated.TEST.EXPORT_PREDICTIONS = False
    ablated.TEST.VISUALIZE_NUM_CLIPS = 0
    ablated.freeze()
    return ablated


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def read_loss_history(metrics_path: str, start_offset: int = 0) -> list[tuple[int, float]]:
    """``(iteration, total_loss)`` of the last training run logged in the trainer's JSON-lines
    ``metrics.json``, reading from byte ``start_offset``. The file is appended to by every run;
    a run starts where the iteration stops increasing. Missing file: ``[]``."""
    if not os.path.isfile(metrics_path):
        return []
    with open(metrics_path, "rb") as f:
        f.seek(start_offset)
        text = f.read().decode("utf-8")
    runs: list[list[tuple[int, float]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{metrics_path}: line {line_number} after byte {start_offset} is not JSON ({e})") from e
        if "total_loss" not in record:
            continue  # evaluation-only records
        entry = (int(record["iteration"]), float(record["total_loss"]))
        if not runs or entry[0] <= runs[-1][-1][0]:
            runs.append([])
        runs[-1].append(entry)
    return runs[-1] if runs else []


def metric_row(results: dict[str, Any], name: str) -> dict[str, float]:
    """The table columns of one evaluation's ``{"sem_seg": {...}}`` results."""
    metrics = results.get("sem_seg")
    missing = [column for column in COLUMNS if metrics is None or column not in metrics]
    if missing:
        raise KeyError(f"Row '{name}': the evaluation results lack {missing}; got {results}")
    return {column: float(metrics[column]) for column in COLUMNS}


def check_targets(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Base mIoU >= 0.55 with audio ("it learns"); each ablation lowers base mIoU by >= 0.15
    (absolute: "it listens")."""
    base = rows[AUDIO_ROW]["mIoU_base"]
    targets = {
        "base_mIoU": {
            "description": f"base mIoU with audio >= {BASE_MIOU_TARGET:.2f}",
            "value": base,
            "threshold": BASE_MIOU_TARGET,
        }
    }
    for row_name, key in ((ZEROED_ROW, "drop_audio_zeroed"), (SHUFFLED_ROW, "drop_audio_shuffled")):
        targets[key] = {
            "description": f"base mIoU drop with {row_name} >= {ABLATION_DROP_TARGET:.2f}",
            "value": base - rows[row_name]["mIoU_base"],
            "threshold": ABLATION_DROP_TARGET,
        }
    for target in targets.values():
        target["met"] = bool(target["value"] >= target["threshold"])
    return targets


def class_split(name: str, base_names: Sequence[str], novel_names: Sequence[str]) -> str:
    if name in base_names:
        return "base"
    if name in novel_names:
        return "novel"
    return "background" if name == BACKGROUND else "other"


def build_report(
    *,
    rows: dict[str, dict[str, float]],
    per_class: dict[str, dict[str, float]],
    base_names: Sequence[str],
    novel_names: Sequence[str],
    loss_history: Sequence[tuple[int, float]],
    dataset_name: str,
    seed: int,
    iterations: int | None,
    trained: bool,
    elapsed_seconds: float,
    paths: dict[str, Any],
    synthetic_data: dict[str, Any],
    caveat: Sequence[str],
) -> dict[str, Any]:
    """Everything ``quickstart_metrics.json`` holds; all metrics in [0, 1]."""
    missing_rows = [name for name, _ in EVALUATIONS if name not in rows]
    if missing_rows:
        raise KeyError(f"Rows {missing_rows} are missing; got {sorted(rows)}")
    targets = check_targets(rows)
    training_loss = None
    if loss_history:
        (first_iteration, first_loss), (last_iteration, last_loss) = loss_history[0], loss_history[-1]
        training_loss = {
            "first": {"iteration": first_iteration, "total_loss": first_loss},
            "last": {"iteration": last_iteration, "total_loss": last_loss},
        }
    return {
        "note": " ".join(caveat),
        "dataset": dataset_name,
        "rows": {name: dict(rows[name]) for name, _ in EVALUATIONS},
        "audio_ablation": dict(EVALUATIONS),
        "per_class": {
            name: {
                "split": class_split(name, base_names, novel_names),
                "iou": float(values["iou"]),
                "f_score": float(values["f_score"]),
            }
            for name, values in per_class.items()
        },
        "targets": targets,
        "all_targets_met": all(target["met"] for target in targets.values()),
        "training_loss": training_loss,
        "seed": seed,
        "synthetic_data": synthetic_data,
        "iterations": iterations,
        "trained_in_this_run": trained,
        "elapsed_seconds": elapsed_seconds,
        "paths": dict(paths),
    }


def _text_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in [header, *body]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """The per-class table of the ``audio`` row, the training loss, then the metrics table and,
    last, one line with every target check."""
    split_order = {"background": 0, "base": 1, "novel": 2, "other": 3}
    per_class = sorted(report["per_class"].items(), key=lambda item: (split_order[item[1]["split"]], item[0]))
    sections = [
        f"Per class ('{AUDIO_ROW}' row; classes that occur in prediction or ground truth):",
        _text_table(
            ("class", "split", "IoU", "F"),
            [(name, values["split"], f"{values['iou']:.4f}", f"{values['f_score']:.4f}") for name, values in per_class],
        ),
        "",
    ]
    loss = report["training_loss"]
    if loss is not None:
        sections.append(
            f"Training loss: {loss['first']['total_loss']:.4f} at iteration {loss['first']['iteration']} -> "
            f"{loss['last']['total_loss']:.4f} at iteration {loss['last']['iteration']}"
        )
    else:
        sections.append("Training loss: no training records found in OUTPUT_DIR/metrics.json")
    sections += [
        f"Wall time: {report['elapsed_seconds']:.1f} s",
        "",
        f"Results on {report['dataset']} (fractions in [0, 1]):",
        _text_table(
            ("row", *COLUMNS),
            [(name, *(f"{metrics[column]:.4f}" for column in COLUMNS)) for name, metrics in report["rows"].items()],
        ),
        "",
        targets_line(report),
    ]
    return "\n".join(sections)


def targets_line(report: dict[str, Any]) -> str:
    """One line: each target with its value and verdict, then whether all were met."""
    checks = "; ".join(
        f"{'PASS' if target['met'] else 'FAIL'} {target['description']}: {target['value']:.4f}"
        for target in report["targets"].values()
    )
    verdict = "all targets met" if report["all_targets_met"] else "TARGETS MISSED"
    return f"Targets: {checks} -> {verdict}"


def write_report(path: str, report: dict[str, Any]) -> None:
    """Write the report as indented JSON, atomically; refuses non-finite numbers."""
    write_json_atomic(path, report, allow_nan=False)


def _read_per_class(inference_dir: str) -> dict[str, dict[str, float]]:
    path = os.path.join(inference_dir, METRICS_FILE)
    with open(path, encoding="utf-8") as f:
        metrics = json.load(f)
    if "per_class" not in metrics:
        raise KeyError(f"{path} has no 'per_class' entry")
    return metrics["per_class"]


# ------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    try:
        cfg = build_cfg(args)
    except (ConfigKeyError, ValueError, OSError) as error:  # before any data or model is made
        print(f"error: {error}", file=sys.stderr)
        return 2
    caveat = caveat_lines(cfg)
    print_banner(caveat)
    print_stage(1, "Data", start)
    synthetic_data = ensure_dataset(cfg)
    default_setup(cfg, args)

    dataset_name = cfg.DATASETS.TEST[0]
    row_cfgs = {name: ablation_cfg(cfg, audio_ablation) for name, audio_ablation in EVALUATIONS}
    output_dirs = {name: inference_output_dir(row_cfg, dataset_name) for name, row_cfg in row_cfgs.items()}
    metrics_path = os.path.join(cfg.OUTPUT_DIR, "metrics.json")
    results: dict[str, dict[str, Any]] = {}
    if args.skip_train:
        print_stage(2, f"Training skipped: loading {os.path.join(cfg.OUTPUT_DIR, FINAL_MODEL_FILE)}", start)
        model, iterations = load_final_model(cfg)
        loss_offset = 0
        print_stage(3, f"Evaluating on {dataset_name}: row '{AUDIO_ROW}'", start)
        results[AUDIO_ROW] = evaluate(cfg, model)
    else:
        print_stage(
            2,
            f"Training {cfg.SOLVER.MAX_ITER} iterations of {cfg.SOLVER.IMS_PER_BATCH} windows on {cfg.DATASETS.TRAIN[0]} "
            f"(the log lines show the ETA), then evaluating on {dataset_name}: row '{AUDIO_ROW}'",
            start,
        )
        loss_offset = os.path.getsize(metrics_path) if os.path.isfile(metrics_path) else 0
        # The trainer's final evaluation writes OUTPUT_DIR/inference/<dataset>: the audio row.
        model, results[AUDIO_ROW], iterations = train(cfg)
        print_stage(3, f"Evaluating on {dataset_name} with the audio ablations", start)
    for name, row_cfg in row_cfgs.items():
        if name != AUDIO_ROW:
            print(f"Row '{name}' (TEST.AUDIO_ABLATION {row_cfg.TEST.AUDIO_ABLATION})", flush=True)
            results[name] = evaluate(row_cfg, model)

    normal_dir = output_dirs[AUDIO_ROW]
    metadata = get_dataset_metadata(dataset_name)
    report = build_report(
        rows={name: metric_row(result, name) for name, result in results.items()},
        per_class=_read_per_class(normal_dir),
        base_names=metadata.base_names,
        novel_names=metadata.novel_names,
        loss_history=read_loss_history(metrics_path, loss_offset),
        dataset_name=dataset_name,
        seed=int(cfg.SEED),
        iterations=iterations,
        trained=not args.skip_train,
        elapsed_seconds=time.perf_counter() - start,
        paths={
            "metrics": {name: os.path.join(folder, "metrics.json") for name, folder in output_dirs.items()},
            "chart": os.path.join(normal_dir, CHART_FILE),
            "predictions": os.path.join(normal_dir, "predictions") if cfg.TEST.EXPORT_PREDICTIONS else None,
            "overlays": os.path.join(normal_dir, OVERLAY_DIR) if cfg.TEST.VISUALIZE_NUM_CLIPS > 0 else None,
        },
        synthetic_data=synthetic_data,
        caveat=caveat,
    )
    report_path = os.path.join(cfg.OUTPUT_DIR, REPORT_FILE)
    write_report(report_path, report)
    print_stage(4, f"Report (written to {report_path}; {caveat[0]})", start)
    print(format_report(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
