"""YAML configs with detectron2 semantics: ``_BASE_`` inheritance, ``KEY VALUE`` overrides, and
an error for unknown keys that names the key, the file and the closest valid key."""
from __future__ import annotations

import copy
import difflib
import logging
import os
from typing import Any, Iterable, Mapping

import yaml
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from ov_avss.utils.file_io import read_utf8_text
from ov_avss.utils.logger import log_once

BASE_KEY = "_BASE_"

logger = logging.getLogger(__name__)


class ConfigKeyError(KeyError):
    """A config file or override names a key that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def _flatten_keys(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in node.items():
        full = f"{prefix}{name}"
        keys.append(full)
        if isinstance(value, Mapping):
            keys.extend(_flatten_keys(value, full + "."))
    return keys


def _comparable(value: Any) -> Any:
    """Lists and tuples compare equal element-wise (YAML lists vs tuple defaults)."""
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(item) for item in value)
    return value


def _warn_compatibility_keys(set_keys: Iterable[str], cfg: "CfgNode", source: str) -> None:
    """One warning per compatibility key that ``source`` set to a value other than its default:
    the key is accepted but has no effect."""
    from .defaults import COMPATIBILITY_DEFAULTS

    for key in set_keys:
        if key not in COMPATIBILITY_DEFAULTS:
            continue
        value = cfg
        for part in key.split("."):
            value = value[part]
        default = COMPATIBILITY_DEFAULTS[key]
        if _comparable(value) != _comparable(default):
            log_once(
                logger,
                logging.WARNING,
                f"{source} sets {key} to {value!r}: this key has no effect (it is accepted only "
                f"because the original releases' configs set it; default {default!r})",
            )


class CfgNode(_FvcoreCfgNode):
    """fvcore ``CfgNode`` whose merges validate keys before applying them, and warn when a merge
    sets a compatibility key (``defaults.COMPATIBILITY_DEFAULTS``) that has no effect."""

    def _unknown_key_error(self, full_key: str, source: str) -> ConfigKeyError:
        valid = _flatten_keys(self)
        close = difflib.get_close_matches(full_key, valid, n=1, cutoff=0.0)
        hint = f"; the closest valid key is '{close[0]}'" if close else ""
        return ConfigKeyError(f"Unknown config key '{full_key}' in {source}{hint}")

    def _check_keys(self, overrides: Mapping[str, Any], source: str, prefix: str = "") -> None:
        for name, value in overrides.items():
            full = f"{prefix}{name}"
            node: Any = self
            for part in full.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    raise self._unknown_key_error(full, source)
                node = node[part]
            if isinstance(value, Mapping):
                if not isinstance(node, Mapping):
                    raise ConfigKeyError(
                        f"Config key '{full}' in {source} is a value, not a section; "
                        f"got a mapping {dict(value)!r}"
                    )
                self._check_keys(value, source, full + ".")

    @classmethod
    def _load_with_bases(cls, filename: str, check: "CfgNode") -> dict:
        """Load ``filename`` merged over its ``_BASE_`` chain, validating every file's keys."""
        filename = os.fspath(filename)
        if not os.path.isfile(filename):
            raise FileNotFoundError(f"Config file not found: {filename}")
        text = read_utf8_text(filename, "Config file")
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"Config file {filename} is not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ValueError(
                f"Config file {filename} must hold a mapping of keys, got {type(loaded).__name__}"
            )
        base_entries = loaded.pop(BASE_KEY, None)
        check._check_keys(loaded, filename)
        if base_entries is None:
            return loaded
        if isinstance(base_entries, str):
            base_entries = [base_entries]
        merged: dict = {}
        for base in base_entries:
            base_path = os.path.expanduser(base)
            if not os.path.isabs(base_path):
                base_path = os.path.join(os.path.dirname(filename), base_path)
            _merge_dicts(merged, cls._load_with_bases(base_path, check))
        _merge_dicts(merged, loaded)
        return merged

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merge a YAML file (and its ``_BASE_`` files) into this config.

        A compatibility key set to another value than its default logs a warning (once).

        Raises:
            ConfigKeyError: a file names a key that is not in the defaults.
            ValueError: a value's type differs from the default's (the message names the file).
        """
        merged = self._load_with_bases(cfg_filename, self)
        try:
            self.merge_from_other_cfg(type(self)(merged))
        except ValueError as error:  # fvcore's type mismatch does not say where the value came from
            raise ValueError(f"Config file {cfg_filename}: {error}") from error
        _warn_compatibility_keys(_flatten_keys(merged), self, f"Config file {cfg_filename}")

    def merge_from_list(self, cfg_list: list) -> None:
        """Merge ``[KEY, VALUE, KEY, VALUE, ...]`` as given on a command line."""
        if len(cfg_list) % 2 != 0:
            raise ValueError(
                f"Config overrides must come in KEY VALUE pairs; got an odd number: {cfg_list}"
            )
        for key in cfg_list[0::2]:
            self._check_keys({key: None}, "the command-line overrides")
        try:
            super().merge_from_list(cfg_list)
        except ValueError as error:
            raise ValueError(f"Command-line override: {error}") from error
        _warn_compatibility_keys(cfg_list[0::2], self, "The command-line overrides")


def _merge_dicts(target: dict, source: Mapping) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge_dicts(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def get_cfg() -> CfgNode:
    """A fresh copy of the default config (``ov_avss.config.defaults``)."""
    from .defaults import _C

    return CfgNode(_C.clone())


def cfg_keys(cfg: CfgNode) -> Iterable[str]:
    """Every dotted key of ``cfg``, sections included."""
    return _flatten_keys(cfg)
