"""Shared helpers for the benchmark scripts: data files, measured child processes, tables."""

from __future__ import annotations

import csv
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# The project reaches the shared data at ../shared/data from its root.
DATA_DIR = Path(os.environ.get("HEADSTART_BENCH_DATA", REPO.parent / "shared" / "data"))


# -- data --------------------------------------------------------------------------------------
def read_sst2(path: Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """GLUE SST-2 TSV (``sentence<TAB>label``, no quoting): the first ``limit`` rows."""
    texts: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header != ["sentence", "label"]:
            raise SystemExit(f"{path}: unexpected header {header}")
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            text, label = line.rsplit("\t", 1)
            texts.append(text)
            labels.append(int(label))
            if limit is not None and len(texts) >= limit:
                break
    return texts, labels


def bbc_splits() -> dict[str, tuple[list[str], list[str]]]:
    from headstart.data.builtin import bbc_news_splits

    return bbc_news_splits()


def write_table(path: Path, column: str, texts: list[str], labels: list[Any] | None) -> Path:
    """CSV (``.csv``) or TSV (``.tsv``) with a header; fields quoted where needed."""
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow([column, "label"] if labels is not None else [column])
        for i, text in enumerate(texts):
            writer.writerow([text, labels[i]] if labels is not None else [text])
    return path


# -- measured child processes ------------------------------------------------------------------
@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_rss_mb: float  # ru_maxrss of this child (and any process it waited for)
    stdout: Path
    stderr: Path


def run_measured(cmd: list[str], log_prefix: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` as a child and measure it: wall seconds from spawn to exit, and its peak RSS.

    The peak RSS comes from ``os.wait4`` on this very child: the kernel's high-water mark of
    its resident set (``ru_maxrss``, KiB on Linux), maxed with that of any process the child
    itself waited for. It is exact (no sampling) and per child, unlike
    ``getrusage(RUSAGE_CHILDREN)``, which is the maximum over all children reaped so far.
    """
    out, err = log_prefix.with_suffix(".out"), log_prefix.with_suffix(".err")
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(proc.returncode, wall, usage.ru_maxrss / 1024, out, err)


def check(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        tail = measured.stderr.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{what} failed (exit {measured.returncode}); stderr tail:\n{tail}")


def child_env() -> dict[str, str]:
    """The same environment for every side: offline (everything is local), no telemetry."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def headstart_command() -> list[str]:
    """The ``headstart`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "headstart"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from headstart.cli.main import run; run()"]


# -- reporting ---------------------------------------------------------------------------------
def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def environment() -> dict[str, Any]:
    import torch
    import transformers

    import headstart

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "headstart": getattr(headstart, "__version__", "?"),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "machine": platform.machine(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
