"""Shared bits of the fit-stage tests: small data files, a config on the tiny model, and a
reporter whose lines can be read back."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from tests import helpers


class Captured(Reporter):
    """A reporter writing into memory: ``lines()`` reads what it said."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        super().__init__(Console(file=self.buffer, width=400, soft_wrap=True, highlight=False))

    def lines(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line]


def write_csv(path: Path, n: int, *, empty_rows: int = 0) -> str:
    """The shared toy CSV (``tests.helpers.write_csv``), as the path string a config takes."""
    return str(helpers.write_csv(path, n, empty_rows=empty_rows))


def write_multilabel(path: Path, n: int) -> str:
    with path.open("w") as handle:
        for i in range(n):
            labels = ["sport"] if i % 3 == 0 else ["money", "politics"] if i % 3 == 1 else []
            labels = labels or ["politics"]
            handle.write(
                json.dumps({"text": f"story {i} about {' '.join(labels)}", "label": labels}) + "\n"
            )
    return str(path)


def write_ner(path: Path, n: int) -> str:
    names, places = ["Peter", "Anna", "Maria", "John"], ["Paris", "Berlin", "London", "Rome"]
    blocks = []
    for i in range(n):
        words = [
            (names[i % 4], "B-PER"),
            ("lives", "O"),
            ("in", "O"),
            (places[(i // 4) % 4], "B-LOC"),
            (".", "O"),
        ]
        blocks.append("\n".join(f"{w} {t}" for w, t in words))
    path.write_text("\n\n".join(blocks) + "\n")
    return str(path)


def config(model: str, data: str, tmp_path: Path, **options: Any) -> FitConfig:
    defaults: dict[str, Any] = {
        "epochs": 1,
        "batch_size": 8,
        "max_length": 32,
        "quiet": True,
        "lr": 1e-3,
        "head_lr": 1e-2,
        "cache_dir": str(tmp_path / "cache"),
        "precision": "fp32",
    }
    return FitConfig(model=model, data=data, **(defaults | options))
