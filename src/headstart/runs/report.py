"""The human summary of a run: ``report.md``."""

from __future__ import annotations

from typing import Any

from headstart.tasks.base import task_type


def _fmt(n: int) -> str:
    return f"{n:,}"


def run_report(metrics: dict[str, Any]) -> str:
    labels = metrics["labels"]
    task = task_type(metrics.get("task"))
    keys = task.headline_keys
    share = metrics["trainable_params"] / metrics["total_params"]
    lines = [
        f"# headstart run: {metrics['strategy']} on {metrics['data']}",
        "",
        f"- source model: `{metrics['model']}`",
        f"- task: {metrics.get('task', 'classification')}",
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
    lines += ["", "## Results", "", "| split | " + " | ".join(keys) + " |"]
    lines.append("|---" * (len(keys) + 1) + "|")
    for split in ("eval", "test"):
        if split in metrics:
            m = metrics[split]
            lines.append(f"| {split} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    final = "test" if "test" in metrics else "eval"
    lines += task.report_sections(metrics[final], final, labels)
    lines += [
        "",
        "## Epochs",
        "",
        "| epoch | train loss | eval loss | "
        + " | ".join(f"eval {k}" for k in keys)
        + " | seconds |",
        "|---" * (len(keys) + 4) + "|",
    ]
    for h in metrics["history"]:
        cells = " | ".join(f"{h[k]:.4f}" for k in keys)
        lines.append(
            f"| {h['epoch']} | {h['train_loss']:.4f} | {h['eval_loss']:.4f} | {cells} "
            f"| {h['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"
