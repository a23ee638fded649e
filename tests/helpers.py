"""Plain helpers that test modules in several folders share: the repository's paths, toy CSV
splits, slices of real data, TensorBoard scalars and the headless Chromium to drive."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the repository: its src/ goes on subprocesses' path
SHARED_DATA = ROOT / ".." / "shared" / "data"  # real data sets, beside the repository

WORDS = {
    "pos": ["great", "excellent", "good", "happy", "love"],
    "neg": ["awful", "terrible", "bad", "sad", "hate"],
}


def write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> str:
    """A CSV of ``header`` and ``rows``; its path as the string a config takes."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_csv(path: Path, n: int, *, empty_rows: int = 0) -> Path:
    """A toy text,label CSV of ``n`` rows that a tiny model learns (pos and neg words)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = "pos" if i % 2 == 0 else "neg"
            words = WORDS[label]
            writer.writerow([f"a {words[i % 5]} and {words[(i + 2) % 5]} day number {i}", label])
        for _ in range(empty_rows):
            writer.writerow(["", "pos"])
    return path


def read_split(path: str) -> tuple[list[str], list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def head_rows(source: Path, target: Path, n: int) -> str:
    """The header and first ``n`` rows of a real CSV, written to ``target``."""
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(lines[: n + 1]) + "\n")
    return str(target)


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


def chromium_path() -> str:
    import os
    import shutil

    for candidate in (os.environ.get("HEADSTART_CHROMIUM"), "chromium", "chromium-browser"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.skip("no chromium executable (apt-get install chromium, or set HEADSTART_CHROMIUM)")
