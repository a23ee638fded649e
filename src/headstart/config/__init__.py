"""Typed settings of every command: checked at construction, saved as JSON, loadable again."""

from headstart.config.fit import FitConfig, check_settings, check_types, parse_unfreeze_every
from headstart.config.names import PAIR_ENCODINGS, POOLINGS, PRECISIONS, STRATEGY_NAMES
from headstart.config.pretraining import AdaptConfig, MLMConfig, PretrainConfig

__all__ = [
    "PAIR_ENCODINGS",
    "POOLINGS",
    "PRECISIONS",
    "STRATEGY_NAMES",
    "AdaptConfig",
    "FitConfig",
    "MLMConfig",
    "PretrainConfig",
    "check_settings",
    "check_types",
    "parse_unfreeze_every",
]
