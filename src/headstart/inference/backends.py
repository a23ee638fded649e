"""Which engine runs a trained model: PyTorch (the run folder) or onnxruntime (its export).

Both give an object with ``.predict(texts, pairs)``, ``.logits``, ``.task``, ``.meta``,
``.labels``, ``.pairs`` and ``.max_length``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.errors import ConfigError

BACKENDS = ("torch", "onnx")


def load_predictor(
    path: str | Path,
    backend: str = "torch",
    *,
    precision: str = "auto",
    batch_size: int = 64,
    workers: int = 1,
) -> Any:
    """torch: :func:`headstart.load` on a run folder. onnx: an export folder, or a run folder
    with one in ``onnx/`` (precision is that of the export: fp32 or int8). ``workers``: batches
    run concurrently on that many threads (0: one per CPU core, see
    :func:`~headstart.inference.predictor.auto_workers`)."""
    if workers < 1:
        from headstart.core.precision import pick_device
        from headstart.inference.predictor import auto_workers

        workers = auto_workers(pick_device() if backend == "torch" else "cpu")
    if backend == "torch":
        from headstart.inference.predictor import Predictor

        return Predictor.from_run(path, precision=precision, batch_size=batch_size, workers=workers)
    if backend == "onnx":
        from headstart.inference.onnx_predictor import OnnxPredictor

        return OnnxPredictor.from_path(path, batch_size=batch_size, workers=workers)
    raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
