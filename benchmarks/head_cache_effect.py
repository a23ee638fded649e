"""Does the feature cache cost `head` accuracy? The same head training replayed over many seeds.

With ``--strategy head`` headstart encodes every text once, in eval mode, and trains the head on
those cached vectors. A Trainer with the encoder frozen runs the encoder at every step in train
mode, so its head sees features with the encoder's dropout in them, different at every epoch.
One Trainer run of the ``head-bbc`` case takes about 15 minutes on 2 cores, and its accuracy on
the 445 eval texts moves by a text or two with the seed alone, so a handful of full runs cannot
tell a real difference from seed noise.

This script computes the features once, then replays the head's training loop (the benchmark's
settings: AdamW, weight decay on the matrix, linear warmup over 10% then decay, clipping at 1.0,
dropout 0.1 on the pooled vector, head initialised normal(std=0.02), batch 32, 3 epochs, head
learning rate 5e-3) for many seeds, on each kind of features:

- ``cache fp32`` and ``cache bf16``: headstart's cache (``engine.caching.pooled_features``,
  the encoder in eval mode), computed in fp32 and in bf16 autocast;
- ``train-mode passes``: the encoder in train mode (dropout on, fp32, as in the Trainer), one
  pass over the training texts per epoch, each seed drawing its epochs' passes from ``--passes``
  precomputed ones.

Evaluation always reads eval-mode features. For every seed the same head initialisation,
batch order and dropout masks are used on each kind of features, so differences are paired.

    python benchmarks/head_cache_effect.py --seeds 200 --passes 4   # BBC News; 30 min, one thread
    python benchmarks/head_cache_effect.py --limit 64 --seeds 5 --passes 3 --output /tmp/h.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _common import BENCH_DIR, bbc_splits, environment, markdown_table
from torch import nn

from headstart.data.batching import Encoded, collate, encode, sorted_batches
from headstart.engine.caching import CacheContext, pooled_features
from headstart.models.classifier import TextClassifier


def load_minilm() -> tuple[Any, TextClassifier]:
    """The packaged minilm's tokenizer and encoder, with a head this script never uses."""
    from transformers import AutoModel, AutoTokenizer

    from headstart.models.source import packaged_minilm_dir

    folder = packaged_minilm_dir()
    return AutoTokenizer.from_pretrained(folder), TextClassifier(
        AutoModel.from_pretrained(folder), num_labels=2
    )


def features(
    model: TextClassifier, encoded: Encoded, precision: str, train_mode_seed: int | None
) -> torch.Tensor:
    """Pooled vectors of ``encoded``: headstart's cache code in eval mode, or (with a seed) one
    pass of the encoder in train mode, its dropout on."""
    if train_mode_seed is None:
        ctx = CacheContext(None, "", precision, "cpu", batch_size=64)
        return pooled_features(model, encoded, ctx)
    torch.manual_seed(train_mode_seed)
    model.train()
    out = torch.empty(len(encoded), model.hidden_size)
    with torch.no_grad():
        for idx in sorted_batches(encoded.lengths, 32):
            out[idx] = model.pooled(**collate(encoded, idx)).float()
    return out


def train_head(
    seed: int,
    epoch_features: list[torch.Tensor],
    labels: torch.Tensor,
    eval_features: torch.Tensor,
    eval_labels: torch.Tensor,
    settings: dict[str, Any],
) -> list[float]:
    """The head's training loop; eval accuracy after each epoch."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    head = nn.Linear(eval_features.shape[1], int(labels.max()) + 1)
    nn.init.normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    dropout = nn.Dropout(settings["dropout"])
    optimizer = torch.optim.AdamW(
        [
            {"params": [head.weight], "weight_decay": settings["weight_decay"]},
            {"params": [head.bias], "weight_decay": 0.0},
        ],
        lr=settings["head_lr"],
    )
    n, batch = len(labels), settings["batch_size"]
    total = math.ceil(n / batch) * len(epoch_features)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total * settings["warmup_ratio"]), total
    )
    history = []
    for train_features in epoch_features:
        order = torch.randperm(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            loss = nn.functional.cross_entropy(head(dropout(train_features[idx])), labels[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        with torch.no_grad():
            correct = (head(eval_features).argmax(1) == eval_labels).float().mean()
        history.append(float(correct))
    return history


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=100, help="seeds 42, 43, ... replayed")
    parser.add_argument("--passes", type=int, default=3, help="train-mode encoder passes")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--head-lr", type=float, default=5e-3)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--limit", type=int, help="only the first N train and N eval texts")
    parser.add_argument("--output", type=Path, help="JSON (default results/head-cache.json)")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.passes < args.epochs:
        parser.error("--passes must be at least --epochs (each epoch reads another pass)")
    settings = {
        "epochs": args.epochs,
        "batch_size": 32,
        "head_lr": args.head_lr,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "dropout": 0.1,
        "max_length": args.max_length,
    }

    splits = bbc_splits()
    (train_texts, train_topics), (eval_texts, eval_topics) = splits["train"], splits["test"]
    if args.limit is not None:
        train_texts, train_topics = train_texts[: args.limit], train_topics[: args.limit]
        eval_texts, eval_topics = eval_texts[: args.limit], eval_topics[: args.limit]
    names = sorted(set(train_topics))
    labels = torch.tensor([names.index(t) for t in train_topics])
    eval_labels = torch.tensor([names.index(t) for t in eval_topics])

    tokenizer, model = load_minilm()
    train_encoded = encode(tokenizer, train_texts, args.max_length)
    eval_encoded = encode(tokenizer, eval_texts, args.max_length)
    seconds: dict[str, float] = {}
    cached: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for precision in ("fp32", "bf16"):
        started = time.perf_counter()
        cached[precision] = (
            features(model, train_encoded, precision, None),
            features(model, eval_encoded, precision, None),
        )
        seconds[f"cache {precision}"] = time.perf_counter() - started
        print(f"cache {precision}: {seconds[f'cache {precision}']:.0f} s", file=sys.stderr)
    passes = []
    for k in range(args.passes):
        started = time.perf_counter()
        passes.append(features(model, train_encoded, "fp32", 1000 + k))
        print(f"train-mode pass {k + 1}: {time.perf_counter() - started:.0f} s", file=sys.stderr)

    def trainer_epochs(seed: int) -> list[torch.Tensor]:
        picked = random.Random(seed).sample(range(args.passes), args.epochs)
        return [passes[k] for k in picked]

    modes = {
        "cache fp32 (headstart --precision fp32)": lambda s: (
            [cached["fp32"][0]] * args.epochs,
            cached["fp32"][1],
        ),
        "cache bf16 (headstart's auto on a bf16 CPU)": lambda s: (
            [cached["bf16"][0]] * args.epochs,
            cached["bf16"][1],
        ),
        "train-mode passes (what the Trainer's head sees)": lambda s: (
            trainer_epochs(s),
            cached["fp32"][1],
        ),
    }
    seeds = list(range(42, 42 + args.seeds))
    results: dict[str, dict[str, list[float]]] = {}
    for mode, pick in modes.items():
        best, last = [], []
        for seed in seeds:
            epoch_features, eval_features = pick(seed)
            history = train_head(seed, epoch_features, labels, eval_features, eval_labels, settings)
            best.append(max(history))
            last.append(history[-1])
        results[mode] = {"best": best, "last": last}

    n_eval = len(eval_labels)
    reference = results[next(iter(modes))]["last"]
    rows = []
    for mode, r in results.items():
        last = r["last"]
        paired = [(a - b) * n_eval for a, b in zip(last, reference, strict=True)]
        spread = statistics.stdev(paired) / math.sqrt(len(paired)) if len(paired) > 1 else 0.0
        counts: dict[int, int] = {}
        for acc in last:
            counts[round(acc * n_eval)] = counts.get(round(acc * n_eval), 0) + 1
        rows.append(
            [
                mode,
                f"{statistics.mean(last):.4f}",
                f"{statistics.median(last):.4f}",
                f"{statistics.mean(r['best']):.4f}",
                f"{statistics.mean(paired):+.2f} ± {spread:.2f}",
                ", ".join(f"{c}: {k}" for c, k in sorted(counts.items())),
            ]
        )
    header = [
        "features the head trains on",
        "mean acc (last epoch)",
        "median",
        "mean acc (best epoch)",
        "texts vs cache fp32 (paired, ± s.e.)",
        f"correct of {n_eval}: seeds",
    ]
    print(markdown_table(header, rows))
    print(f"\n{len(seeds)} seeds ({seeds[0]}-{seeds[-1]}); {len(train_texts)} train texts")

    output = args.output or BENCH_DIR / "results" / "head-cache.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {**settings, "seeds": seeds, "passes": args.passes, "limit": args.limit},
        "environment": environment(),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "accuracy": results,
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
