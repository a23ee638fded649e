"""Predict with an ONNX export (``headstart export``) on onnxruntime: the same rows as the torch
:class:`~headstart.predictor.Predictor`, from the same tokenizer and the same sorted batches.

Needs the ``export`` extra (``onnxruntime``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.data.batching import collate, encode, sorted_batches
from headstart.errors import HeadstartError, ModelError
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


class OnnxPredictor:
    """``.predict(texts, pairs)`` / ``.logits(texts, pairs)`` on onnxruntime (CPU)."""

    tokens = False  # exports are of sequence-level models only (see headstart.export)

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        meta: dict[str, Any],
        *,
        batch_size: int = 64,
        max_length: int | None = None,
    ):
        self.session = session
        self.tokenizer = tokenizer
        self.meta = meta
        self.task = task_from_meta(meta)
        self.labels: list[str] = list(meta.get("labels", []))
        self.batch_size = batch_size
        self.max_length = max_length or int(meta.get("max_length", 256))
        self.input_names = [i.name for i in session.get_inputs()]
        self.outputs = int(meta.get("outputs", len(self.labels) or 1))
        onnx_meta = meta.get("onnx", {})
        self.precision = "int8" if onnx_meta.get("quantize") == "int8" else "fp32"

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        threads: int | None = None,
    ) -> OnnxPredictor:
        try:
            import onnxruntime as ort
        except ImportError:
            raise HeadstartError(
                "the onnx backend needs onnxruntime: pip install 'headstart[export]'"
            ) from None
        from transformers import AutoTokenizer

        from headstart.api import quiet_transformers

        quiet_transformers()
        folder = find_export(path)
        meta = json.loads((folder / META_FILE).read_text())
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(session, tokenizer, meta, batch_size=batch_size, max_length=max_length)

    @property
    def pairs(self) -> bool:
        return bool(self.meta.get("pairs", False))

    def logits(self, texts: list[str], pairs: list[str] | None = None) -> torch.Tensor:
        """(N, outputs) in input order; batches sorted by length, padded to their longest."""
        if not texts:
            return torch.empty(0, self.outputs)
        encoded = encode(self.tokenizer, texts, self.max_length, pairs)
        out = np.empty((len(texts), self.outputs), dtype=np.float32)
        for idx in sorted_batches(encoded.lengths, self.batch_size):
            batch = collate(encoded, idx)
            feed = {name: batch[name].numpy() for name in self.input_names}
            out[idx] = self.session.run(None, feed)[0]
        return torch.from_numpy(out)

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """The rows of :meth:`headstart.predictor.Predictor.predict`."""
        rows = self.task.rows(self.logits(texts, pairs))
        out = []
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            first = {"text": text} | ({"text_pair": pairs[i]} if pairs is not None else {})
            out.append(first | row)
        return out
