"""Predict with an ONNX export (``headstart export``) on onnxruntime: the same rows as the torch
:class:`~headstart.inference.predictor.Predictor`, from the same tokenizer and the same sorted
batches
(it is that predictor with its model call replaced).

Needs the ``export`` extra (``onnxruntime``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from headstart.data.batching import Encoded, collate
from headstart.engine.training import in_input_order
from headstart.errors import HeadstartError, ModelError
from headstart.inference.predictor import Predictor, forward_pool
from headstart.tasks import task_from_meta

ONNX_FILE = "model.onnx"
META_FILE = "headstart.json"


def find_export(path: str | Path) -> Path:
    """The export folder: ``path`` itself, or ``path/onnx`` (the default ``--output`` of
    ``headstart export`` for a run folder)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: not found; pass an export folder or a run folder")
    for folder in (path, path / "onnx"):
        if (folder / ONNX_FILE).is_file() and (folder / META_FILE).is_file():
            return folder
    raise ModelError(
        f"{path}: no ONNX export here (no {ONNX_FILE}); run 'headstart export {path} "
        f"--format onnx' first, or pass the folder it wrote"
    )


class OnnxPredictor(Predictor):
    """The torch :class:`~headstart.inference.predictor.Predictor` (its rows, sentence pairs, word
    tags and entities) with the model call, ``_run``, on onnxruntime (CPU) instead of PyTorch."""

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        meta: dict[str, Any],
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        workers: int = 1,
    ):
        # Not Predictor.__init__: there is no torch model to copy.
        self.session = session
        self.model = None
        self.tokenizer = tokenizer
        self.meta = meta
        self.task = task_from_meta(meta)
        self.labels: list[str] = list(meta.get("labels", []))
        self.device = "cpu"
        self.batch_size = batch_size
        self.max_length = max_length or int(meta.get("max_length", 256))
        self.input_names = [i.name for i in session.get_inputs()]
        self.outputs = int(meta.get("outputs", len(self.labels) or 1))
        self.precision = "int8" if meta.get("onnx", {}).get("quantize") == "int8" else "fp32"
        # onnxruntime sessions may run concurrently; each worker then uses its share of threads
        self.workers = max(1, workers)
        self._pool = forward_pool(self.workers, "headstart-onnx")

    @classmethod
    def from_path(  # type: ignore[override]
        cls,
        path: str | Path,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        threads: int | None = None,
        workers: int = 1,
    ) -> OnnxPredictor:
        try:
            import onnxruntime as ort
        except ImportError:
            raise HeadstartError(
                "the onnx backend needs onnxruntime: pip install 'headstart[export]'"
            ) from None
        from transformers import AutoTokenizer

        from headstart.core.env import quiet_transformers

        quiet_transformers()
        folder = find_export(path)
        meta = json.loads((folder / META_FILE).read_text())
        options = ort.SessionOptions()
        if workers > 1 and not threads:
            threads = max(1, torch.get_num_threads() // workers)
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(
            session, tokenizer, meta, batch_size=batch_size, max_length=max_length, workers=workers
        )

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        if not texts:
            return torch.empty(0, self.outputs)
        return super().logits(texts, pairs)

    def _run(self, encoded: Encoded) -> torch.Tensor:
        """Graph outputs of encoded rows in input order, as the torch predictor's ``_run``:
        (N, outputs), or (N, longest, outputs) zero-padded for a token model."""

        def run(idx: list[int]) -> torch.Tensor:
            batch = collate(encoded, idx)
            feed = {name: batch[name].numpy() for name in self.input_names}
            return torch.from_numpy(self.session.run(None, feed)[0])

        return in_input_order(encoded.lengths, self.batch_size, run, self._pool, self.workers)
