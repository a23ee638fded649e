"""The run folder, and every atomic write in headstart.

Its file names (:data:`MODEL`, :data:`METRICS`, :data:`CONFIG` …) and :func:`is_run_folder`
come from :mod:`headstart.core.runfiles`.

Run folders are written atomically: everything goes to a hidden staging folder beside the
target, which is renamed into place only when complete. A run killed at any moment leaves
no ``model/`` that looks complete but is not. Single files go the same way
(:func:`atomic_file`): a hidden temporary file beside the target, renamed over it when
complete, removed when writing fails."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from headstart.core.runfiles import (
    CHECKPOINTS,
    CONFIG,
    METRICS,
    MODEL,
    README,
    REPORT,
    RUN_FILES,
    TENSORBOARD,
    is_run_folder,
)
from headstart.errors import ConfigError

# The file names are defined in core (config reads run folders too and may not import runs);
# they are part of this module's interface all the same.
__all__ = [
    "CHECKPOINTS", "CONFIG", "METRICS", "MODEL", "README", "REPORT", "RUN_FILES", "TENSORBOARD",
    "StagedRun", "atomic_file", "check_target", "default_run_dir", "is_run_folder",
    "temporary_beside", "write_json", "write_text",
]  # fmt: skip


def default_run_dir(data: str, strategy: str) -> Path:
    stem = Path(data).stem if not data.startswith("bbc") else data
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{stamp}-{stem}-{strategy}"


def check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ConfigError(
            f"{target}: output folder exists and is not empty; pass --overwrite or another --output"
        )
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: exists and is a file; pass a folder to --output")


class StagedRun:
    """``with StagedRun(target) as stage:`` write into ``stage``; it becomes ``target`` when
    the block ends without an exception, and is removed otherwise."""

    def __init__(self, target: Path, overwrite: bool = False):
        self.target = target
        self.overwrite = overwrite
        self.stage = target.parent / f".{target.name}.partial-{os.getpid()}"

    def __enter__(self) -> Path:
        check_target(self.target, self.overwrite)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        return self.stage

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
            os.replace(self.stage, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.stage, self.target)


def temporary_beside(path: Path) -> Path:
    """The hidden name a file is written under before it becomes ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """``with atomic_file(path) as tmp:`` write ``tmp``; it replaces ``path`` when the block
    ends without an exception, and is removed otherwise: readers never see half a file."""
    tmp = temporary_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
