"""``headstart export``: a run folder as one ONNX graph (encoder, pooling and head), with the
tokenizer beside it and a parity report against PyTorch.

The graph's inputs are the tokenizer's outputs (``input_ids``, ``attention_mask`` and, where
the encoder takes them, ``token_type_ids``), int64 with dynamic batch and sequence axes; its
output is ``logits``: (batch, outputs), or (batch, sequence, tags) for a token model.
``--quantize int8`` applies onnxruntime's dynamic quantization (int8 weights with a scale per
output channel, activations quantized on the fly).

Needs the ``export`` extra (``onnx`` and ``onnxruntime``).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.data.batching import collate, encode
from headstart.errors import ConfigError, DataError, HeadstartError, ModelError
from headstart.inference.onnx_predictor import META_FILE, ONNX_FILE, OnnxPredictor
from headstart.models.classifier import TextClassifier

OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The sample when none is given: varied lengths, punctuation and casing.
PROBE_TEXTS = [
    "A gripping, beautifully acted film.",
    "Dull.",
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
    "I would not recommend this to anyone, not even my worst enemy!!!",
    "The central bank left interest rates unchanged on Thursday, as expected by analysts.",
    "ok",
    "Shares fell sharply after the profit warning; the CEO resigned two days later.",
    "The match ended 2-2 after a late equaliser in the 94th minute.",
]


@dataclass
class Parity:
    """PyTorch (fp32) against onnxruntime on the same texts."""

    examples: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    label_agreement: float | None  # per text (per token for tags); None for regression
    torch_texts_per_s: float
    onnx_texts_per_s: float
    sample: str

    def line(self) -> str:
        agree = "" if self.label_agreement is None else f", labels agree {self.label_agreement:.2%}"
        return (
            f"parity on {self.examples} texts ({self.sample}): max |logit diff| "
            f"{self.max_abs_logit_diff:.2e}{agree}; {self.onnx_texts_per_s:.0f} texts/s "
            f"(PyTorch fp32 {self.torch_texts_per_s:.0f})"
        )


class _Graph(nn.Module):
    """Positional tensors in, logits out: the signature ``torch.onnx.export`` traces."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, tensors, strict=True)))


def graph_inputs(model: Any, tokenizer: Any) -> list[str]:
    """The tokenizer outputs the graph takes: what the encoder accepts, plus the attention mask
    (pooling reads it even where the encoder does not)."""
    produced = set(tokenizer("probe", "pair")) & set(INPUTS)
    names = [n for n in INPUTS if n in produced and (n in model.accepts or n == "attention_mask")]
    if "input_ids" not in names or "attention_mask" not in names:
        raise ModelError("export needs a tokenizer that gives input_ids and attention_mask")
    return model.pairing.graph_inputs(names)  # a bi-encoder's second texts: their own tensors


def export_onnx(
    run_dir: str | Path,
    output: str | Path,
    *,
    quantize: str | None = None,
    sample: tuple[list[str], list[str] | None, str] | None = None,
    overwrite: bool = False,
) -> Parity:
    """Write ``output/model.onnx`` (+ tokenizer, ``headstart.json``, ``parity.json``) and
    return the parity report. ``sample`` is (texts, pairs or None, description)."""
    try:
        import onnx
    except ImportError:
        raise HeadstartError("export needs onnx: pip install 'headstart[export]'") from None
    from headstart.inference.predictor import Predictor

    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize must be int8 (or left out), got '{quantize}'")
    target = Path(output)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise ConfigError(
            f"{target}: exists and is not empty; pass --overwrite or another --output"
        )
    predictor = Predictor.from_run(run_dir, precision="fp32", device="cpu")  # reference: fp32
    model, tokenizer = predictor.model.eval(), predictor.tokenizer
    names = graph_inputs(model, tokenizer)
    texts, pairs, described = sample or probe_sample(predictor.pairs)

    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=_existing_parent(target)))
    try:
        fp32 = staging / ("model.fp32.onnx" if quantize else ONNX_FILE)
        _trace(model, tokenizer, names, fp32, predictor.pairs, predictor.tokens)
        onnx.checker.check_model(str(fp32))
        if quantize == "int8":
            _quantize_int8(fp32, staging / ONNX_FILE)
            fp32.unlink()
        tokenizer.save_pretrained(staging)
        folder = _model_folder(Path(run_dir))
        for name in ("config.json", "README.md"):
            source = folder / name if name == "config.json" else folder.parent / name
            if source.is_file():
                shutil.copy(source, staging / name)
        meta = predictor.meta | {
            "outputs": int(model.head.out_features),
            "onnx": {
                "inputs": names,
                "output": "logits",
                "opset": OPSET,
                "quantize": quantize,
                "torch": torch.__version__,
                "exporter": "torch.onnx.export (TorchScript)",
            },
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        parity = measure_parity(predictor, OnnxPredictor.from_path(staging), texts, pairs)
        parity.sample = described
        (staging / "parity.json").write_text(json.dumps(asdict(parity), indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return parity


def _trace(
    model: TextClassifier, tokenizer: Any, names: list[str], path: Path, pairs: bool, tokens: bool
) -> None:
    # Two texts of different lengths: the traced graph must keep the attention mask (a dummy
    # batch without padding lets transformers drop it, which would bake that into the graph).
    first = ["a short text", "a noticeably longer text, so that the batch has padding in it"]
    second = ["and its pair", "and a second text"] if pairs else None
    if model.pairing.apart:  # a bi-encoder: texts encoded apart
        dummy = collate(encode(tokenizer, first, 64, second, apart=True), [0, 1])
    else:
        dummy = tokenizer(first, second, padding=True, return_tensors="pt")
    args = tuple(dummy[n] for n in names)
    # logits: (batch, outputs), or (batch, sequence, tags) for a token model
    out_axes = {0: "batch", 1: "sequence"} if tokens else {0: "batch"}
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": out_axes}
    with warnings.catch_warnings(), torch.no_grad():
        # shape checks traced as constants are all about the mask matching the inputs
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Graph(model, names).eval(),  # a new module is in training mode: export restores it
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript, robust for BERT-like models
        )
    model.eval()


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 with one scale per output channel of each weight matrix: on SST-2 (minilm,
    full) per-tensor scales lost 1.3 points of accuracy (0.870 → 0.858), per-channel none."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing": no gain measured for these graphs
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def measure_parity(
    reference: Any, onnx_predictor: OnnxPredictor, texts: list[str], pairs: list[str] | None
) -> Parity:
    started = time.perf_counter()
    expected = reference.logits(texts, pairs)
    torch_s = time.perf_counter() - started
    started = time.perf_counter()
    got = onnx_predictor.logits(texts, pairs)
    onnx_s = time.perf_counter() - started
    diff = (expected - got).abs()
    agreement = reference.task.agreement(expected, got)  # None where outputs are numbers
    return Parity(
        examples=len(texts),
        max_abs_logit_diff=float(diff.max()) if len(texts) else 0.0,
        mean_abs_logit_diff=float(diff.mean()) if len(texts) else 0.0,
        label_agreement=None if agreement is None else round(agreement, 6),
        torch_texts_per_s=round(len(texts) / max(torch_s, 1e-9), 1),
        onnx_texts_per_s=round(len(texts) / max(onnx_s, 1e-9), 1),
        sample="",
    )


def probe_sample(pairs: bool) -> tuple[list[str], list[str] | None, str]:
    """The built-in sample: fixed sentences plus seeded word salads of many lengths."""
    rng = random.Random(0)
    words = " ".join(PROBE_TEXTS).replace(",", "").replace(".", "").split()
    texts = list(PROBE_TEXTS)
    for n in (1, 3, 7, 15, 31, 63, 127, 255, 400):
        texts.append(" ".join(rng.choice(words) for _ in range(n)))
    second = [texts[(i + 3) % len(texts)] for i in range(len(texts))] if pairs else None
    return texts, second, f"{len(texts)} built-in probe texts"


def read_sample(
    path: str,
    text_column: str | None,
    pair_column: str | None,
    pairs_wanted: bool,
    size: int,
    encoding: str = "utf-8",
) -> tuple[list[str], list[str] | None, str]:
    """Up to ``size`` texts (0: all) from a data file, in file order."""
    from headstart.data.labelled import resolve_text_column
    from headstart.data.readers import read_table

    table = read_table(path, encoding)
    column = resolve_text_column(table, text_column)
    if pairs_wanted and pair_column is None:
        raise DataError(f"{path}: this model reads sentence pairs; pass --text-pair-column")
    if pair_column is not None and pair_column not in table.columns:
        raise DataError(f"{path}: no column '{pair_column}'; found: {', '.join(table.columns)}")
    texts: list[str] = []
    pairs: list[str] = []
    for row in table.rows:
        text, pair = row.get(column), row.get(pair_column) if pair_column else None
        if not isinstance(text, str) or not text.strip():
            continue
        if pair_column is not None and (not isinstance(pair, str) or not pair.strip()):
            continue
        texts.append(text)
        if pair_column is not None:
            pairs.append(pair)  # type: ignore[arg-type]
        if size and len(texts) >= size:
            break
    if not texts:
        raise DataError(f"{path}: no non-empty texts in column '{column}'")
    return texts, (pairs if pair_column is not None else None), f"{len(texts)} texts of {path}"


def _model_folder(path: Path) -> Path:
    return path / "model" if (path / "model").is_dir() else path


def _existing_parent(target: Path) -> Path:
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return parent
