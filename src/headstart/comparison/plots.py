"""The report's figures, drawn with matplotlib (Agg, no display) and returned as PNG bytes."""

from __future__ import annotations

import io
from typing import Any

from headstart.errors import ConfigError

COLORS = {
    "full": "#1f77b4",
    "partial": "#2ca02c",
    "head": "#ff7f0e",
    "lora": "#d62728",
    "bitfit": "#9467bd",
    "gradual": "#8c564b",
    "tfidf": "#7f7f7f",
    "scratch": "#17becf",
}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "the compare report draws its figures with matplotlib: pip install 'headstart[report]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def _color(name: str) -> str:
    return COLORS.get(name, "#333333")


def quality_bars(c: dict[str, Any]) -> bytes:
    """Mean quality per strategy with a ±1 standard deviation bar and every seed as a dot."""
    plt = _pyplot()
    s = c["strategies"]
    names = sorted(s, key=lambda n: s[n]["mean"])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    for i, name in enumerate(names):
        e = s[name]
        ax.barh(i, e["mean"], xerr=e["std"], color=_color(name), alpha=0.75, capsize=4)
        seeds = list(e["per_seed"].values())
        ax.plot(seeds, [i] * len(seeds), "k.", markersize=5)
        ax.text(e["mean"] + e["std"] + 0.003, i, f"{e['mean']:.3f}", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    low = min(min(e["per_seed"].values()) for e in s.values())
    ax.set_xlim(
        max(0.0, low - 0.05), min(1.0, max(e["mean"] + e["std"] for e in s.values()) + 0.04)
    )
    ax.set_xlabel(f"{c['split']} {c['metric']} (bar: mean, line: ±1 std, dots: seeds)")
    ax.set_title("Quality over seeds")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def quality_vs_cost(c: dict[str, Any], cost: str) -> bytes:
    """Quality against trainable parameters (``cost="params"``) or training seconds
    (``"time"``), log scale, with the Pareto front drawn and its members ringed."""
    plt = _pyplot()
    s = c["strategies"]
    key = "trainable_params" if cost == "params" else "train_seconds"
    label = "trainable parameters (log)" if cost == "params" else "training seconds (log)"
    fig, ax = plt.subplots(figsize=(7, 4.2))
    front = c["pareto"][cost]
    for name, e in s.items():
        x = max(float(e[key]), 1e-2)
        ax.errorbar(x, e["mean"], yerr=e["std"], fmt="o", color=_color(name), capsize=3)
        if name in front:
            ax.plot(x, e["mean"], "o", markersize=13, markerfacecolor="none", color="black")
        ax.annotate(name, (x, e["mean"]), textcoords="offset points", xytext=(7, -10), fontsize=8)
    xs = [max(float(s[n][key]), 1e-2) for n in front]
    ys = [s[n]["mean"] for n in front]
    ax.step(xs, ys, where="post", color="black", linestyle="--", alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel(f"{c['split']} {c['metric']}")
    what = "parameters" if cost == "params" else "training time"
    ax.set_title(f"Quality against {what} (ringed: nothing else is better and cheaper)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def epoch_curves(c: dict[str, Any]) -> bytes | None:
    """Eval quality after each epoch, mean over seeds, one line per strategy."""
    plt = _pyplot()
    metric = c["metric"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for name, e in c["strategies"].items():
        histories = [h for h in e["histories"] if h and metric in h[0]]
        if not histories:
            continue
        longest = max(len(h) for h in histories)
        means = []
        for i in range(longest):
            values = [h[i][metric] for h in histories if len(h) > i]
            means.append(sum(values) / len(values))
        ax.plot(range(1, longest + 1), means, marker=".", color=_color(name), label=name)
        drawn = True
    if not drawn:
        _pyplot().close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"eval {metric} (mean over seeds)")
    ax.set_xscale("log")
    ax.set_title("Learning curves per epoch (log scale: head trains many cheap epochs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def size_curve(c: dict[str, Any]) -> bytes | None:
    """Quality against the number of labelled examples: pretrained against scratch."""
    curve = c.get("learning_curve")
    if not curve:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for side, series in curve["series"].items():
        points = [
            (n, m, s)
            for n, m, s in zip(curve["sizes"], series["mean"], series["std"], strict=True)
            if m is not None
        ]
        if not points:
            continue
        xs, ms, ss = zip(*points, strict=True)
        label = (
            f"pretrained ({side})" if side == curve["pretrained"] else "random weights (scratch)"
        )
        ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3, color=_color(side), label=label)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples (log)")
    ax.set_ylabel(f"{c['split']} {c['metric']}")
    ax.set_title("What pretraining buys: quality against labelled data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def all_figures(c: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """name → (caption, PNG), in report order; figures without data are left out."""
    figures: dict[str, tuple[str, bytes | None]] = {
        "quality": ("Quality per strategy: mean, ±1 std and each seed", quality_bars(c)),
        "params": (
            "Quality against trainable parameters, Pareto front dashed",
            quality_vs_cost(c, "params"),
        ),
        "time": (
            "Quality against training time, Pareto front dashed",
            quality_vs_cost(c, "time"),
        ),
        "epochs": ("Eval quality after each epoch", epoch_curves(c)),
        "sizes": ("Quality against the number of labelled examples", size_curve(c)),
    }
    return {k: (cap, png) for k, (cap, png) in figures.items() if png is not None}
