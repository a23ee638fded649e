"""Worker for ``predict_vs_pipeline.py``: time prediction in this process and write JSON.

``--side headstart``: ``headstart.load(run).predict(texts)``.
``--side pipeline``: ``transformers.pipeline("text-classification")`` over an
``AutoModelForSequenceClassification`` loaded from the run's encoder folder ``RUN/model``.

Loading is timed separately; then one warm-up pass and ``--repeats`` timed passes over all the
texts. Not meant to be used directly.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import time
from pathlib import Path


def read_texts(path: Path, column: str) -> list[str]:
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle, delimiter=delimiter)]


def load_headstart(args: argparse.Namespace):
    import headstart

    predictor = headstart.load(
        args.run, precision=args.precision, batch_size=args.batch_size, max_length=args.max_length
    )

    def predict(texts: list[str]) -> list[str]:
        return [row["label"] for row in predictor.predict(texts)]

    return predict, predictor.precision


def load_pipeline(args: argparse.Namespace):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized: classifier.weight ..." is expected
    folder = Path(args.run) / "model" if (Path(args.run) / "model").is_dir() else Path(args.run)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    device = 0 if torch.cuda.is_available() else -1
    pipe = pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        batch_size=args.batch_size,
        device=device,
    )

    def predict(texts: list[str]) -> list[str]:
        rows = pipe(texts, truncation=True, max_length=args.max_length)
        return [row["label"] for row in rows]

    return predict, args.dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("headstart", "pipeline"), required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--max-length", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", default="auto", help="headstart side")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="pipeline side")
    parser.add_argument("--t0", type=float, required=True, help="time.time() when spawned")
    parser.add_argument("--output-json", required=True, type=Path)
    args = parser.parse_args()

    texts = read_texts(args.input, args.text_column)
    started = time.perf_counter()
    loader = load_headstart if args.side == "headstart" else load_pipeline
    predict, precision = loader(args)
    load_s = time.perf_counter() - started  # imports of the library and model loading

    started = time.perf_counter()
    labels = predict(texts)
    warmup_s = time.perf_counter() - started
    cold_s = time.time() - args.t0  # spawn → first pass done: what one CLI call costs

    passes = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        labels = predict(texts)
        passes.append(time.perf_counter() - started)
    steady = statistics.median(passes)

    import torch

    result = {
        "side": args.side,
        "texts": len(texts),
        "precision": precision,
        "load_s": round(load_s, 3),
        "warmup_s": round(warmup_s, 3),
        "cold_s": round(cold_s, 3),
        "pass_s": [round(p, 3) for p in passes],
        "median_pass_s": round(steady, 3),
        "texts_per_s": round(len(texts) / steady, 2),
        "labels": labels,
        "torch_threads": torch.get_num_threads(),
        "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.output_json.write_text(json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.exit(main())
