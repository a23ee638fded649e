"""Prediction throughput: headstart `predict` vs the transformers text-classification pipeline.

Texts: SST-2 dev (872 sentences) and the BBC News test split (445 articles). Every side runs in
its own process with the same batch size (default 64) and the same max length (the run's
``max_length``; truncation on every side). Sides:

- ``headstart CLI``: ``headstart predict RUN --input FILE -o OUT.jsonl --batch-size B``, one
  whole process per call (start-up, model loading, reading the file, writing JSONL included).
  One warm-up call, then the median of ``--repeats`` calls; texts/s = texts / wall seconds.
- ``headstart API``: ``headstart.load(RUN).predict(texts)`` in a worker process.
- ``pipeline``: ``pipeline("text-classification", model=..., batch_size=B)`` called with
  ``truncation=True, max_length=L``, in a worker process. Its model is
  ``AutoModelForSequenceClassification.from_pretrained(RUN/model)``: the run's encoder (its
  config carries id2label) with transformers' own head, BERT's pooler (dense + tanh on the
  [CLS] state) and a linear classifier, newly initialised. So its *predictions* are not the
  run's (the head differs and is random), but the compute is the same encoder at the same
  size plus a 384×384 pooler; that is what the throughput comparison needs. headstart's head is
  mean pooling + linear.

For the two worker sides, loading (imports included) is timed separately, then one warm-up
pass, then the median of ``--repeats`` timed passes over all the texts ("steady texts/s").
"cold s" is spawn → end of the first pass, which is comparable to one CLI call. Peak RSS is the
child's ``ru_maxrss`` from ``os.wait4``.

Without ``--run`` a run is built first (not timed as part of the comparison):
``headstart fit --data <first 2,000 rows of sst2/train.tsv> --strategy head --epochs 1``.

    python benchmarks/predict_vs_pipeline.py                  # builds a run, 3 repeats
    python benchmarks/predict_vs_pipeline.py --run runs/my-run --batch-size 64
    python benchmarks/predict_vs_pipeline.py --limit 64 --repeats 1    # smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    DATA_DIR,
    bbc_splits,
    check,
    child_env,
    environment,
    headstart_command,
    markdown_table,
    median,
    read_sst2,
    run_measured,
    write_table,
)

BUILD_ROWS = 2000


def build_run(workdir: Path, max_length: int) -> tuple[Path, float]:
    texts, labels = read_sst2(DATA_DIR / "sst2" / "train.tsv", BUILD_ROWS)
    train = write_table(workdir / "build-train.tsv", "sentence", texts, labels)
    run_dir = workdir / "run"
    cmd = [
        *headstart_command(),
        "fit",
        "--data", str(train),
        "--strategy", "head",
        "--epochs", "1",
        "--max-length", str(max_length),
        "--cache-dir", str(workdir / "cache"),
        "-o", str(run_dir),
        "--overwrite",
        "--quiet",
    ]  # fmt: skip
    measured = run_measured(cmd, workdir / "log-build", child_env())
    check(measured, "headstart fit (building the run)")
    return run_dir, measured.wall_s


def run_max_length(run_dir: Path) -> int:
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    meta = json.loads((folder / "headstart.json").read_text())
    return int(meta.get("max_length", 256))


def prepare_inputs(workdir: Path, names: list[str], limit: int | None) -> dict[str, dict]:
    inputs = {}
    for name in names:
        if name == "sst2":
            texts, labels = read_sst2(DATA_DIR / "sst2" / "dev.tsv")
            column, path = "sentence", workdir / "sst2-dev.tsv"
        elif name == "bbc":
            texts, labels = bbc_splits()["test"]
            column, path = "text", workdir / "bbc-test.csv"
        else:
            raise SystemExit(f"unknown dataset '{name}'; choose sst2, bbc")
        if limit is not None:
            texts, labels = texts[:limit], labels[:limit]
        inputs[name] = {
            "path": write_table(path, column, texts, labels),
            "column": column,
            "texts": len(texts),
        }
    return inputs


def run_cli(
    run_dir: Path, data: dict, args: argparse.Namespace, workdir: Path, tag: str
) -> dict[str, Any]:
    out = workdir / f"{tag}.jsonl"
    cmd = [
        *headstart_command(),
        "predict",
        str(run_dir),
        "--input", str(data["path"]),
        "--text-column", data["column"],
        "-o", str(out),
        "--batch-size", str(args.batch_size),
        "--precision", args.precision,
    ]  # fmt: skip
    walls, rss = [], []
    for i in range(args.repeats + 1):  # the first call is a warm-up (file cache)
        measured = run_measured(cmd, workdir / f"log-{tag}-{i}", child_env())
        check(measured, f"headstart predict ({tag})")
        if i > 0:
            walls.append(measured.wall_s)
            rss.append(measured.peak_rss_mb)
    labels = [json.loads(line)["label"] for line in out.read_text().splitlines()]
    wall = median(walls)
    return {
        "cold_s": round(wall, 3),
        "calls_s": [round(w, 3) for w in walls],
        "cold_texts_per_s": round(data["texts"] / wall, 2),
        "peak_rss_mb": round(median(rss), 1),
        "labels": labels,
        "command": cmd,
    }


def run_worker(
    side: str, run_dir: Path, data: dict, args: argparse.Namespace, workdir: Path, tag: str
) -> dict[str, Any]:
    out_json = workdir / f"{tag}.json"
    cmd = [
        sys.executable,
        str(BENCH_DIR / "_predict_worker.py"),
        "--side", side,
        "--run", str(run_dir),
        "--input", str(data["path"]),
        "--text-column", data["column"],
        "--batch-size", str(args.batch_size),
        "--max-length", str(args.max_length),
        "--repeats", str(args.repeats),
        "--precision", args.precision,
        "--dtype", args.pipeline_dtype,
        "--output-json", str(out_json),
        "--t0",
    ]  # fmt: skip
    measured = run_measured([*cmd, repr(time.time())], workdir / f"log-{tag}", child_env())
    check(measured, f"{side} worker ({tag})")
    result = json.loads(out_json.read_text())
    result["cold_texts_per_s"] = round(result["texts"] / result["cold_s"], 2)
    result["peak_rss_mb"] = round(measured.peak_rss_mb, 1)
    result["process_wall_s"] = round(measured.wall_s, 3)
    result["command"] = cmd
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description="headstart predict vs the transformers text-classification pipeline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--run", type=Path, help="headstart run folder (default: build one)")
    parser.add_argument("--datasets", default="sst2,bbc", help="comma-separated: sst2, bbc")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (CLI: calls)")
    parser.add_argument("--precision", default="auto", help="headstart side: auto, fp32, bf16")
    parser.add_argument(
        "--pipeline-dtype",
        choices=("fp32", "bf16"),
        default="fp32",
        help="pipeline side (fp32 is from_pretrained's default)",
    )
    parser.add_argument(
        "--build-max-length", type=int, default=256, help="max length of a run built here"
    )
    parser.add_argument("--limit", type=int, help="only the first N texts of each dataset")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the CLI side")
    parser.add_argument("--output", type=Path, help="JSON (default results/predict.json)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()

    output = args.output or BENCH_DIR / "results" / (
        "predict.json" if args.limit is None else f"predict-limit{args.limit}.json"
    )
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="headstart-bench-predict-"))
    results: dict[str, dict[str, Any]] = {}
    build: dict[str, Any] | None = None
    try:
        if args.run is None:
            print(f"building a run ({BUILD_ROWS} SST-2 rows, head, 1 epoch) …", file=sys.stderr)
            run_dir, build_s = build_run(workdir, args.build_max_length)
            build = {
                "rows": BUILD_ROWS,
                "strategy": "head",
                "epochs": 1,
                "wall_s": round(build_s, 2),
            }
        else:
            run_dir = args.run.resolve()
        args.max_length = run_max_length(run_dir)  # `headstart predict` always uses the run's
        inputs = prepare_inputs(workdir, names, args.limit)
        for name, data in inputs.items():
            results[name] = {}
            sides = ["pipeline", "headstart"] + ([] if args.skip_cli else ["cli"])
            for side in sides:
                started = time.perf_counter()
                tag = f"{name}-{side}"
                if side == "cli":
                    results[name][side] = run_cli(run_dir, data, args, workdir, tag)
                else:
                    results[name][side] = run_worker(side, run_dir, data, args, workdir, tag)
                print(f"  {name} {side}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        if args.keep_temp:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    header = [
        "texts",
        "side",
        "precision",
        "load s",
        "cold s",
        "cold texts/s",
        "steady texts/s",
        "steady vs pipeline",
        "cold vs pipeline",
        "peak RSS MB",
    ]
    rows = []
    for name, sides in results.items():
        pipe = sides["pipeline"]
        api = sides["headstart"]
        for side, r in sides.items():
            steady = r.get("texts_per_s")
            rows.append(
                [
                    f"{name} ({inputs[name]['texts']})",
                    {"pipeline": "pipeline", "headstart": "headstart API", "cli": "headstart CLI"}[
                        side
                    ],
                    r.get("precision", api["precision"]),
                    f"{r['load_s']:.2f}" if "load_s" in r else None,
                    f"{r['cold_s']:.2f}",
                    f"{r['cold_texts_per_s']:.1f}",
                    f"{steady:.1f}" if steady else None,
                    f"{steady / pipe['texts_per_s']:.2f}×"
                    if steady and side != "pipeline"
                    else None,
                    f"{pipe['cold_s'] / r['cold_s']:.2f}×" if side != "pipeline" else None,
                    f"{r['peak_rss_mb']:.0f}",
                ]
            )
        if "cli" in sides:
            same = sum(a == b for a, b in zip(sides["cli"]["labels"], api["labels"], strict=True))
            sides["cli"]["agreement_with_api"] = round(same / len(api["labels"]), 4)
    print()
    print(markdown_table(header, rows))
    print(
        f"\nbatch size {args.batch_size}, max length {args.max_length}; steady: median of "
        f"{args.repeats} passes after a warm-up, loading excluded; cold: spawn → first pass done "
        "(CLI: whole call); ratios > 1 mean headstart is faster"
    )
    for name, sides in results.items():
        if "cli" in sides:
            print(f"{name}: CLI and API labels agree on {sides['cli']['agreement_with_api']:.2%}")

    for sides in results.values():
        for r in sides.values():
            r.pop("labels", None)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {
            "run": str(args.run) if args.run else "built here",
            "build": build,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "repeats": args.repeats,
            "precision": args.precision,
            "pipeline_dtype": args.pipeline_dtype,
            "limit": args.limit,
            "texts": {name: data["texts"] for name, data in inputs.items()},
        },
        "environment": environment(),
        "results": results,
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
