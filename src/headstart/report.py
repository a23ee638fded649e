"""The human summary of a run: ``report.md``."""

from __future__ import annotations

from typing import Any

from headstart.evaluation import confusion_markdown, per_class_markdown


def _fmt(n: int) -> str:
    return f"{n:,}"


def run_report(metrics: dict[str, Any], labels: list[str]) -> str:
    share = metrics["trainable_params"] / metrics["total_params"]
    lines = [
        f"# headstart run: {metrics['strategy']} on {metrics['data']}",
        "",
        f"- source model: `{metrics['model']}`",
        f"- strategy: **{metrics['strategy']}** ({metrics['strategy_summary']})",
        f"- trainable parameters: {_fmt(metrics['trainable_params'])} of "
        f"{_fmt(metrics['total_params'])} ({share:.1%})",
        f"- training time: {metrics['train_seconds']:.1f} s over {len(metrics['history'])} epochs "
        f"(best epoch {metrics['best_epoch']}), precision {metrics['precision']}",
        f"- examples: {metrics['examples']}",
    ]
    skipped = {k: v for k, v in metrics["skipped_rows"].items() if v}
    if skipped:
        lines.append(f"- skipped rows (empty text or label): {skipped}")
    lines += ["", "## Results", "", "| split | accuracy | macro-F1 |", "|---|---|---|"]
    for split in ("eval", "test"):
        if split in metrics:
            m = metrics[split]
            lines.append(f"| {split} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |")
    final = "test" if "test" in metrics else "eval"
    lines += [
        "",
        f"## Confusion matrix ({final})",
        "",
        confusion_markdown(metrics[final]["confusion_matrix"], labels),
        "",
        f"## Per class ({final})",
        "",
        per_class_markdown(metrics[final]["per_class"]),
        "",
        "## Epochs",
        "",
        "| epoch | train loss | eval loss | eval accuracy | eval macro-F1 | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for h in metrics["history"]:
        lines.append(
            f"| {h['epoch']} | {h['train_loss']:.4f} | {h['eval_loss']:.4f} | {h['accuracy']:.4f} "
            f"| {h['macro_f1']:.4f} | {h['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"
