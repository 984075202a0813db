"""Which demo serves a config: one demo class per ``MODEL.META_ARCHITECTURE``, chosen here.

A demo class has ``from_config(cfg, request)`` (checks the request against the config and reads
its settings; builds no model), ``run(predictor, demo_input, output_dir, show_progress)`` (writes
the outputs, returns what it wrote) and ``report(outputs) -> list[str]`` (the lines the CLI
prints). Register one with ``@DEMO_REGISTRY.register(name="<META_ARCHITECTURE>")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ov_avss.checkpoint.model_fit import is_pretrained_initialisation
from ov_avss.data.catalog import DatasetMetadata, get_dataset_metadata
from ov_avss.utils.registry import Registry

from .errors import DemoInputError

DEMO_REGISTRY = Registry("DEMO")


@dataclass(frozen=True)
class DemoRequest:
    """What the user asked for beyond the input; ``None`` = not given (the demo's default)."""

    vocabulary: Optional[list[str]] = None
    video_id: Optional[int] = None


def build_demo(cfg, request: DemoRequest) -> Any:
    """The demo of ``cfg.MODEL.META_ARCHITECTURE``, set up for ``request``.

    Raises:
        DemoInputError: no demo serves the architecture, or the request does not fit it.
    """
    name = cfg.MODEL.META_ARCHITECTURE
    if name not in DEMO_REGISTRY:
        raise DemoInputError(
            f"Config MODEL.META_ARCHITECTURE = '{name}' has no demo; demos exist for {DEMO_REGISTRY.names()}"
        )
    return DEMO_REGISTRY.get(name).from_config(cfg, request)


def test_dataset_metadata(cfg) -> DatasetMetadata:
    """The metadata of ``DATASETS.TEST[0]``, the dataset the model is meant for: its vocabulary
    (the demo's default), label space and audio padding.

    Raises:
        DemoInputError: ``DATASETS.TEST`` is empty or names an unregistered dataset.
    """
    if not cfg.DATASETS.TEST:
        raise DemoInputError(
            "Config DATASETS.TEST is empty; the demo takes its default vocabulary and audio padding "
            "from the first test dataset"
        )
    try:
        return get_dataset_metadata(cfg.DATASETS.TEST[0])
    except KeyError as e:
        raise DemoInputError(f"Config DATASETS.TEST[0]: {e.args[0]}") from e


def untrained_reasons(cfg) -> list[str]:
    """The settings of ``cfg`` that leave the model without learned weights, as sentences.

    None when ``MODEL.WEIGHTS`` is a trained checkpoint: it sets every trainable tensor (the
    checkpointer refuses it otherwise) and its frozen encoders are the ones it was trained with,
    whatever ``RANDOM_INIT`` says (``ov_avss.checkpoint``).
    """
    weights = cfg.MODEL.WEIGHTS
    if weights and not is_pretrained_initialisation(weights):
        return []
    if weights:
        reasons = [f"MODEL.WEIGHTS {weights} is a pretrained initialisation, not a trained model"]
    else:
        reasons = ["MODEL.WEIGHTS is empty (the model is untrained)"]
    return reasons + [
        reason
        for reason, applies in (
            ("MODEL.AUDIO.RANDOM_INIT is True (random VGGish)", cfg.MODEL.AUDIO.RANDOM_INIT),
            ("MODEL.CLIP_ADAPTER.RANDOM_INIT is True (random CLIP)", cfg.MODEL.CLIP_ADAPTER.RANDOM_INIT),
        )
        if applies
    ]


def empty_output_hint(untrained: Sequence[str], trained_advice: str) -> str:
    """The hint printed when nothing was found: why that is expected with ``untrained`` settings,
    else ``trained_advice`` (which settings to look at)."""
    if untrained:
        return (
            "expected here because " + "; ".join(untrained)
            + ". Give MODEL.WEIGHTS a trained checkpoint (docs/demo.md)."
        )
    return trained_advice
