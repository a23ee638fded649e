"""ONNX export parity and speed on SST-2 dev: PyTorch against the fp32 and int8 exports.

For a run folder fine-tuned on SST-2 (``--run``), this exports it twice with ``headstart
export`` (fp32, and ``--quantize int8``) into a temp dir, then, in this one process, on all 872
SST-2 dev sentences:

- **accuracy** of each side against the gold labels;
- **label agreement** and the **max / mean |logit difference|** of each side against PyTorch
  fp32 (the reference the export is traced from);
- **texts/s**: one warm-up pass, then ``--repeats`` passes per side, interleaved (side A, B, C,
  D, then again), median; batch size ``--batch-size`` (64), sorted by length, the run's max
  length, the same tokenizer. The PyTorch sides run with torch's default threads and the
  onnxruntime sides with its default (one intra-op thread per core), so both use every core.

Sides: ``torch fp32``, ``torch auto`` (what ``headstart predict`` uses by default: bf16 on a
CPU with AMX/AVX512-bf16), ``onnx fp32`` and ``onnx int8``.

    python benchmarks/export_parity.py --run RUN_DIR [--repeats 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, DATA_DIR, environment, headstart_command, markdown_table, read_sst2


def export(run: Path, target: Path, quantize: bool) -> dict[str, Any]:
    cmd = [*headstart_command(), "export", str(run), "--format", "onnx", "--output", str(target)]
    cmd += ["--sample", str(DATA_DIR / "sst2" / "dev.tsv"), "--sample-size", "0"]
    cmd += ["--quantize", "int8"] if quantize else []
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    report = json.loads((target / "parity.json").read_text())
    return report | {"export_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder fine-tuned on SST-2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "export.json")
    args = parser.parse_args()

    import torch

    import headstart
    from headstart.inference.onnx_predictor import OnnxPredictor

    texts, gold = read_sst2(DATA_DIR / "sst2" / "dev.tsv")
    workdir = Path(tempfile.mkdtemp(prefix="headstart-bench-export-"))
    try:
        reports = {
            "onnx fp32": export(args.run, workdir / "fp32", quantize=False),
            "onnx int8": export(args.run, workdir / "int8", quantize=True),
        }
        sizes = {k: (workdir / d / "model.onnx").stat().st_size for k, d in
                 (("onnx fp32", "fp32"), ("onnx int8", "int8"))}  # fmt: skip
        sides = {
            "torch fp32": headstart.load(args.run, precision="fp32", batch_size=args.batch_size),
            "torch auto": headstart.load(args.run, precision="auto", batch_size=args.batch_size),
            "onnx fp32": OnnxPredictor.from_path(workdir / "fp32", batch_size=args.batch_size),
            "onnx int8": OnnxPredictor.from_path(workdir / "int8", batch_size=args.batch_size),
        }
        labels = sides["torch fp32"].labels
        gold_ids = torch.tensor([labels.index(str(g)) for g in gold])
        logits = {name: side.logits(texts) for name, side in sides.items()}  # also the warm-up
        passes: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeats):
            for name, side in sides.items():
                started = time.perf_counter()
                side.logits(texts)
                passes[name].append(time.perf_counter() - started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    reference = logits["torch fp32"]
    results: dict[str, dict[str, Any]] = {}
    for name, out in logits.items():
        diff = (out - reference).abs()
        results[name] = {
            "precision": getattr(sides[name], "precision", None),
            "accuracy": round((out.argmax(-1) == gold_ids).float().mean().item(), 4),
            "agreement_with_torch_fp32": round(
                (out.argmax(-1) == reference.argmax(-1)).float().mean().item(), 4
            ),
            "max_abs_logit_diff": float(diff.max()),
            "mean_abs_logit_diff": float(diff.mean()),
            "pass_s": [round(p, 3) for p in passes[name]],
            "texts_per_s": round(len(texts) / statistics.median(passes[name]), 1),
            "model_mb": round(sizes[name] / 1e6, 1) if name in sizes else None,
        }
        if name in reports:
            results[name]["export"] = reports[name]

    base = results["torch fp32"]
    header = ["side", "accuracy", "Δ acc (points)", "labels agree", "max abs Δ logit",
              "texts/s", "vs torch fp32", "model MB"]  # fmt: skip
    rows = [
        [
            name,
            f"{r['accuracy']:.4f}",
            f"{100 * (r['accuracy'] - base['accuracy']):+.2f}",
            f"{r['agreement_with_torch_fp32']:.2%}",
            f"{r['max_abs_logit_diff']:.2e}",
            f"{r['texts_per_s']:.0f}",
            f"{r['texts_per_s'] / base['texts_per_s']:.2f}×",
            r["model_mb"] if r["model_mb"] is not None else "-",
        ]
        for name, r in results.items()
    ]
    print(markdown_table(header, rows))
    print(
        f"\nSST-2 dev, {len(texts)} sentences; batch {args.batch_size}; median of "
        f"{args.repeats} interleaved passes after a warm-up"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {"run": str(args.run), "repeats": args.repeats, "batch_size": args.batch_size,
                     "texts": len(texts)},
        "environment": environment(),
        "results": results,
    }  # fmt: skip
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
