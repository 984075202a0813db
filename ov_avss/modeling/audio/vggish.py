"""The VGGish audio embedding network (Hershey et al., 2017) with the public PyTorch weights.

The layer layout matches the ``vggish-10086976.pth`` file of the harritaylor/torchvggish release
(keys ``features.N.*`` and ``embeddings.N.*``), so it loads with strict key checking. PCA
post-processing is not applied (as in the OV-AVSS release).
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict

import torch
from torch import nn

from ov_avss.audio import VGGISH_FRONT_END, vggish_params

from .build import AUDIO_ENCODER_REGISTRY

__all__ = ["VGGish", "VGGISH_WEIGHTS_SOURCE"]

logger = logging.getLogger(__name__)

VGGISH_WEIGHTS_SOURCE = (
    "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
)

# Convolution widths; "M" is a 2x2 max-pool (the published VGGish configuration).
_FEATURE_LAYOUT = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")
_FEATURE_CHANNELS = 512
# Spatial size of the feature map after four 2x2 pools of a 96 x 64 example.
_FEATURE_HEIGHT = vggish_params.NUM_FRAMES // 16
_FEATURE_WIDTH = vggish_params.NUM_BANDS // 16
_HIDDEN_SIZE = 4096


def _make_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 1
    for entry in _FEATURE_LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, entry, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = entry
    return nn.Sequential(*layers)


def _check_weights_file(path: str) -> None:
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"MODEL.AUDIO.WEIGHTS: VGGish weight file '{path}' not found. Download "
            f"vggish-10086976.pth from the harritaylor/torchvggish release "
            f"({VGGISH_WEIGHTS_SOURCE}) and point MODEL.AUDIO.WEIGHTS at it, or set "
            "MODEL.AUDIO.RANDOM_INIT True for tests."
        )


@AUDIO_ENCODER_REGISTRY.register()
class VGGish(nn.Module):
    """VGGish: log-mel examples ``[N, 1, 96, 64]`` -> embeddings ``[N, 128]``.

    ``from_config`` reads ``MODEL.AUDIO``: ``WEIGHTS`` (the torchvggish ``.pth``) is loaded with
    strict key checking unless ``RANDOM_INIT``; with ``FREEZE`` the network has no trainable
    parameters, stays in eval mode whatever ``.train()`` its parent calls, and runs under
    ``no_grad``. ``embedding_size`` (128) is the width the decoders size their audio inputs by.
    """

    # Builds its weights from MODEL.AUDIO.WEIGHTS: frozen, checkpoints need not carry them
    # (ov_avss.checkpoint.checkpointer.self_loaded_frozen_modules).
    self_loaded_weights = True

    # The input the data layer computes for this encoder (also registered for its name).
    front_end = VGGISH_FRONT_END
    embedding_size = vggish_params.EMBEDDING_SIZE

    def __init__(self, *, weights: str, random_init: bool, freeze: bool, embedding_cache_size: int):
        """
        Args:
            weights: the torchvggish ``.pth`` file, loaded with strict key checking.
            random_init: keep random (He) weights instead of loading ``weights``.
            freeze: no trainable parameters, eval mode and ``no_grad``.
            embedding_cache_size: embeddings remembered by example (frozen encoder only; 0: none).
        """
        super().__init__()
        self.frozen = bool(freeze)
        self.cache_size = int(embedding_cache_size) if self.frozen else 0
        if self.cache_size < 0:
            raise ValueError(f"MODEL.AUDIO.EMBEDDING_CACHE_SIZE must be >= 0, got {self.cache_size}")
        # Example bytes digest -> embedding [128] (CPU); least recently used entries are evicted.
        self._embedding_cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        # Cached embeddings belong to the weights they were computed with.
        self.register_load_state_dict_post_hook(lambda module, incompatible_keys: module._embedding_cache.clear())
        if not random_init:
            # Fail before allocating the 72M-parameter network.
            _check_weights_file(weights)
        self.features = _make_features()
        self.embeddings = nn.Sequential(
            nn.Linear(_FEATURE_CHANNELS * _FEATURE_HEIGHT * _FEATURE_WIDTH, _HIDDEN_SIZE),
            nn.ReLU(inplace=True),
            nn.Linear(_HIDDEN_SIZE, _HIDDEN_SIZE),
            nn.ReLU(inplace=True),
            nn.Linear(_HIDDEN_SIZE, self.embedding_size),
            nn.ReLU(inplace=True),
        )
        if random_init:
            logger.warning(
                "MODEL.AUDIO.RANDOM_INIT is True: VGGish keeps random weights instead of loading "
                "MODEL.AUDIO.WEIGHTS ('%s'); audio embeddings carry no learned meaning "
                "(meant for tests and the synthetic quickstart only)",
                weights,
            )
            self.reset_parameters()
        else:
            self.load_weights(weights)
        if self.frozen:
            self.requires_grad_(False)
            self.train(False)

    @classmethod
    def from_config(cls, cfg) -> "VGGish":
        audio_cfg = cfg.MODEL.AUDIO
        return cls(
            weights=audio_cfg.WEIGHTS,
            random_init=bool(audio_cfg.RANDOM_INIT),
            freeze=bool(audio_cfg.FREEZE),
            embedding_cache_size=int(audio_cfg.EMBEDDING_CACHE_SIZE),
        )

    def reset_parameters(self) -> None:
        """Variance-preserving random weights (He init, zero biases).

        PyTorch's default init shrinks activations layer after layer; through VGGish's 9 layers
        the embedding of every input collapses onto the same bias-driven vector. He init keeps
        the scale, so a frozen random VGGish acts as a random-feature projection that still tells
        different sounds apart.
        """
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        self._embedding_cache.clear()

    def load_weights(self, path: str) -> None:
        """Load the torchvggish state dict at ``path`` (strict: every key and shape must match)."""
        _check_weights_file(path)
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state_dict, dict):
            raise ValueError(
                f"MODEL.AUDIO.WEIGHTS: '{path}' holds a {type(state_dict).__name__}, expected a "
                "state dict with keys features.N.* and embeddings.N.*"
            )
        own = self.state_dict()
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        wrong_shapes = [
            f"{key}: file {tuple(state_dict[key].shape)} vs model {tuple(own[key].shape)}"
            for key in sorted(set(own) & set(state_dict))
            if tuple(state_dict[key].shape) != tuple(own[key].shape)
        ]
        if missing or unexpected or wrong_shapes:
            raise ValueError(
                f"MODEL.AUDIO.WEIGHTS: '{path}' is not a torchvggish VGGish state dict "
                f"(expected keys features.N.* and embeddings.N.*). Missing keys: {missing}; "
                f"unexpected keys: {unexpected}; shape mismatches: {wrong_shapes}"
            )
        self.load_state_dict(state_dict, strict=True)

    def train(self, mode: bool = True) -> "VGGish":
        # A frozen encoder keeps eval behaviour even when the whole model is put in training.
        return super().train(mode and not self.frozen)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``log_mel [N, 1, 96, 64]`` -> ``[N, 128]`` (non-negative, after the final ReLU)."""
        expected = (1, vggish_params.NUM_FRAMES, vggish_params.NUM_BANDS)
        if log_mel.dim() != 4 or tuple(log_mel.shape[1:]) != expected:
            raise ValueError(
                f"VGGish expects log-mel examples [N, {', '.join(map(str, expected))}], "
                f"got {tuple(log_mel.shape)}"
            )
        if self.cache_size == 0:
            return self._embed(log_mel)
        return self._embed_with_cache(log_mel)

    def _embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            feature_map = self.features(log_mel)
            # Flatten in (H, W, C) order: the weights were converted from TensorFlow's NHWC.
            flattened = feature_map.permute(0, 2, 3, 1).flatten(1)
            return self.embeddings(flattened)

    def _embed_with_cache(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Embed only the examples not seen before; ``[N, 1, 96, 64]`` -> ``[N, 128]``."""
        examples = log_mel.detach().to("cpu", torch.float32).contiguous()
        keys = [hashlib.blake2b(example.numpy().tobytes(), digest_size=16).digest() for example in examples]
        missing = [index for index, key in enumerate(keys) if key not in self._embedding_cache]
        if missing:
            computed = self._embed(log_mel[missing]).to("cpu", torch.float32)
            for index, embedding in zip(missing, computed):
                self._embedding_cache[keys[index]] = embedding
        embeddings = []
        for key in keys:
            self._embedding_cache.move_to_end(key)
            embeddings.append(self._embedding_cache[key])
        while len(self._embedding_cache) > self.cache_size:
            self._embedding_cache.popitem(last=False)
        return torch.stack(embeddings).to(log_mel.device, log_mel.dtype)
