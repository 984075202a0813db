"""Configuration: ``get_cfg()`` returns the defaults; YAML files and overrides merge on top."""
from .config import CfgNode, ConfigKeyError, cfg_keys, get_cfg

__all__ = ["CfgNode", "ConfigKeyError", "cfg_keys", "get_cfg"]
