"""``headstart serve``: a run folder (or its ONNX export) behind HTTP, with micro-batching.

Needs the ``serve`` extra: ``pip install 'headstart[serve]'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.inference.backends import BACKENDS, load_predictor

__all__ = ["BACKENDS", "load_predictor", "run_info"]


def run_info(run_dir: str | Path, predictor: Any, backend: str) -> dict[str, Any]:
    """What ``GET /info`` shows: the model, task, labels, strategy and the run's metrics."""
    meta = predictor.meta
    metrics = _run_metrics(Path(run_dir))
    return {
        "model": meta.get("base_model"),
        "task": predictor.task.name,
        "labels": list(predictor.labels),
        "pairs": bool(predictor.pairs),
        "strategy": meta.get("strategy") or metrics.get("strategy"),
        "max_length": predictor.max_length,
        "metrics": {split: metrics[split] for split in ("eval", "test") if split in metrics},
        "trainable_params": metrics.get("trainable_params"),
        "data": metrics.get("data"),
        "backend": backend,
        "precision": getattr(predictor, "precision", None),
        "workers": getattr(predictor, "workers", 1),
    }


def _run_metrics(path: Path) -> dict[str, Any]:
    """``metrics.json`` of the run: beside ``path``, or one level up (``RUN/model``,
    ``RUN/onnx``)."""
    for folder in (path, path.parent):
        candidate = folder / "metrics.json"
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError):
                return {}
    return {}
