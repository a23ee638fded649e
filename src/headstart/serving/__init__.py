"""``headstart serve``: a run folder (or its ONNX export) behind HTTP, with micro-batching.

Needs the ``serve`` extra: ``pip install 'headstart[serve]'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BACKENDS = ("torch", "onnx")


def load_predictor(
    run_dir: str | Path, backend: str, *, precision: str = "auto", batch_size: int = 64
) -> Any:
    """The torch :class:`~headstart.predictor.Predictor` or the ONNX one for ``run_dir``."""
    from headstart.errors import ConfigError

    if backend == "torch":
        from headstart.api import load

        return load(run_dir, precision=precision, batch_size=batch_size)
    if backend == "onnx":
        from headstart.onnx_predictor import OnnxPredictor

        return OnnxPredictor.from_path(run_dir, batch_size=batch_size)
    raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'")


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
