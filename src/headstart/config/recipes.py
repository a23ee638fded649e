"""Recipes: a YAML or JSON file of ``fit`` settings (``headstart fit --config recipe.yaml``).

Keys are :class:`~headstart.config.FitConfig` field names (``max_length`` or ``max-length``);
options given on the command line win over the file. A run folder's ``config.json`` is a
recipe too: it reproduces the run into a new run folder (its ``output`` and ``overwrite`` are
dropped, so the original run is never overwritten by accident; ``--output`` picks the folder).
``headstart adapt --config recipe.yaml`` takes a recipe of adapt settings the same way, and
``headstart compare --config recipe.yaml`` one of compare's options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.config.files import load_recipe
from headstart.config.fit import FitConfig, check_settings, check_types
from headstart.config.pretraining import AdaptConfig
from headstart.core.runfiles import CONFIG, is_run_folder
from headstart.errors import ConfigError

# Settings that say where a run goes, not what it does.
PLACEMENT = ("output", "overwrite")


def recipe_config(path: str | Path, overrides: dict[str, Any] | None = None) -> FitConfig:
    """The :class:`FitConfig` of the recipe at ``path``, with ``overrides`` (field names; the
    options given on the command line) taking precedence."""
    path = Path(path)
    values = load_recipe(path)
    if path.name == CONFIG and is_run_folder(path.parent):
        values = {k: v for k, v in values.items() if k.replace("-", "_") not in PLACEMENT}
    # the file is checked before merging: a typo in it is reported even when the command
    # line sets the same setting
    merged = check_types(values, str(path)) | (overrides or {})
    if "data" not in merged:
        raise ConfigError(f"{path}: no 'data' setting; add 'data: train.csv' or pass --data")
    return FitConfig.from_dict(merged, str(path))


def adapt_recipe_config(path: str | Path, overrides: dict[str, Any] | None = None) -> AdaptConfig:
    """The :class:`AdaptConfig` of an ``adapt --config`` recipe (keys are its field names; an
    adapt output's ``pretraining.json`` is one, its output dropped), ``overrides`` winning."""
    path = Path(path)
    values = load_recipe(path)
    if path.name == "pretraining.json":
        values = {k: v for k, v in values.items() if k.replace("-", "_") not in PLACEMENT}
    corpus = values.pop("corpus", None)
    if isinstance(corpus, str):  # one file or pattern
        corpus = [corpus]
    if corpus is not None and not (
        isinstance(corpus, list) and corpus and all(isinstance(c, str) for c in corpus)
    ):
        raise ConfigError(
            f"{path}: 'corpus' must be a file, a pattern or a list of them, got "
            f"{json.dumps(corpus, default=str)}"
        )
    merged = check_types(values, str(path), AdaptConfig)
    merged |= ({"corpus": corpus} if corpus else {}) | (overrides or {})
    for key in ("corpus", "output"):
        if not merged.get(key):
            raise ConfigError(f"{path}: no '{key}' setting; add it to the recipe or pass --{key}")
    try:
        return AdaptConfig(**merged)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# compare options that are comma-separated text on the command line and may be lists in a file
LIST_OPTIONS = ("strategies", "train_sizes")


def compare_recipe(
    path: str | Path, hints: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """The settings of a ``compare --config`` recipe (keys as compare's options, each checked
    against ``hints``), with ``given`` (the options typed on the command line) winning."""
    path = Path(path)
    values = load_recipe(path)
    for key in list(values):
        if str(key).replace("-", "_") in LIST_OPTIONS and isinstance(values[key], list):
            values[key] = ",".join(str(v) for v in values[key])
    return check_settings(values, str(path), hints) | given
