"""Tiny run folders and a real ``headstart serve`` process, for the serving and export tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoTokenizer

from headstart.models.classifier import TextClassifier
from headstart.models.source import packaged_minilm_dir
from headstart.runs.folder import write_json
from tests.tiny_models import tiny_encoder

LABELS = {
    "classification": ["neg", "neu", "pos"],
    "multilabel": ["joy", "love", "anger"],
    "tokens": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
}


def make_run(
    folder: Path,
    task: str = "classification",
    *,
    pairs: bool = False,
    seed: int = 0,
    pair_encoding: str = "cross",
    case_markers: bool = False,
) -> Path:
    """A run folder with a tiny random BERT and a head with large weights, so that its labels
    are decided by wide margins (numeric noise from batching never flips one)."""
    torch.manual_seed(seed)
    labels = LABELS.get(task, [])
    pooling = "tokens" if task == "tokens" else "mean"
    model = TextClassifier(
        tiny_encoder("bert"), len(labels) or 1, pooling, dropout=0.0, pair_encoding=pair_encoding
    )
    with torch.no_grad():
        model.head.weight.normal_(std=3.0)
    meta: dict[str, object] = {"task": task, "labels": labels}
    if task == "regression":
        meta |= {"target_mean": 2.5, "target_std": 1.5}
    if task == "multilabel":
        meta["threshold"] = 0.5
    meta |= {"base_model": "tiny-bert", "strategy": "full", "max_length": 64, "pairs": pairs}
    if case_markers:
        meta["case_markers"] = True
    (folder / "model").mkdir(parents=True)
    model.save(folder / "model", AutoTokenizer.from_pretrained(packaged_minilm_dir()), meta)
    eval_metrics = {"accuracy": 0.5, "macro_f1": 0.4} if task == "classification" else {}
    write_json(
        folder / "metrics.json",
        {"eval": eval_metrics, "strategy": "full", "trainable_params": 123, "data": "toy.csv"},
    )
    return folder


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(run: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``headstart serve RUN --port 0 ARGS`` as a real process on loopback; stopped (SIGTERM)
    at the end."""
    log = run.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", **(env or {}))
    command = [sys.executable, "-m", "headstart.cli.main", "serve", str(run), "--port", "0"]
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [*command, *args], stdout=handle, stderr=subprocess.STDOUT, text=True, env=full_env
        )
    try:
        url = _wait_for_url(process, log)
        yield Server(process, url, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_url(process: subprocess.Popen[str], log: Path, timeout: float = 120) -> str:
    import httpx

    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        if url is None:
            found = re.search(r"on (http://\S+:\d+)", log.read_text(errors="replace"))
            url = found.group(1) if found else None
        if url is not None:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start in {timeout} s:\n{log.read_text()}")


def read_json(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())
