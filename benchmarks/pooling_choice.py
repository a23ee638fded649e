"""Which pooling should the head read? Measures mean, cls and pooler on one dataset.

    D=../shared/data/financial_phrasebank
    python benchmarks/pooling_choice.py --data $D/allagree_train.csv \
        --eval-data $D/allagree_dev.csv --test-data $D/allagree_test.csv --strategies head,full

Prints a markdown table of test accuracy and training seconds per strategy and pooling.
"""

from __future__ import annotations

import argparse
import tempfile

import headstart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--eval-data")
    parser.add_argument("--test-data")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--strategies", default="head,full")
    parser.add_argument("--poolings", default="mean,cls,pooler")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategies.split(","):
            for pooling in args.poolings.split(","):
                result = headstart.fit(
                    data=args.data,
                    eval_data=args.eval_data,
                    test_data=args.test_data,
                    model=args.model,
                    strategy=strategy,
                    pooling=pooling,
                    seed=args.seed,
                    output=f"{tmp}/{strategy}-{pooling}",
                    cache_dir=f"{tmp}/cache",
                    quiet=True,
                )
                m = result.metrics
                split = "test" if "test" in m else "eval"
                rows.append(
                    (
                        strategy,
                        pooling,
                        m[split]["accuracy"],
                        m[split]["macro_f1"],
                        m["train_seconds"],
                    )
                )
                print(rows[-1], flush=True)
    print(f"\n| strategy | pooling | {split} accuracy | macro-F1 | train s |")
    print("|---|---|---|---|---|")
    for strategy, pooling, acc, f1, secs in rows:
        print(f"| {strategy} | {pooling} | {acc:.4f} | {f1:.4f} | {secs:.1f} |")


if __name__ == "__main__":
    main()
