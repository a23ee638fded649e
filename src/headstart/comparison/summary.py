"""From job results to ``comparison.json``: mean and spread over seeds, the Pareto fronts, the
learning curve, and a short plain-language reading."""

from __future__ import annotations

import statistics
from typing import Any

from headstart.tasks.metrics import main_metric


def main_score(metrics: dict[str, Any]) -> tuple[str, str, float]:
    """(metric, split, value): the task's main metric on test if there is one, else eval."""
    split = "test" if "test" in metrics else "eval"
    metric = main_metric(metrics.get("task"), metrics[split])
    return metric, split, float(metrics[split][metric])


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated by another: nothing else is at least as good and at most as
    costly, and strictly better in one. ``points``: name → (cost, quality)."""
    front = []
    for name, (cost, quality) in points.items():
        dominated = any(
            c <= cost and q >= quality and (c < cost or q > quality)
            for other, (c, q) in points.items()
            if other != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def aggregate(results: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    """``comparison.json``. ``info``: data, model, seeds and the like, copied in."""
    wanted = info.get("candidates")
    main = [
        r
        for r in results
        if r["train_size"] is None and (wanted is None or r["candidate"] in wanted)
    ]
    metric, split, _ = main_score(main[0]["metrics"])
    strategies: dict[str, Any] = {}
    for name in dict.fromkeys(r["candidate"] for r in main):
        runs = sorted((r for r in main if r["candidate"] == name), key=lambda r: r["seed"])
        scores = [main_score(r["metrics"])[2] for r in runs]
        eval_scores = [float(r["metrics"]["eval"][metric]) for r in runs]
        m = runs[0]["metrics"]
        entry: dict[str, Any] = {
            "mean": round(statistics.fmean(scores), 4),
            "std": round(_std(scores), 4),
            "per_seed": {str(r["seed"]): round(s, 4) for r, s in zip(runs, scores, strict=True)},
            "eval_mean": round(statistics.fmean(eval_scores), 4),
            "trainable_params": int(m["trainable_params"]),
            "total_params": int(m["total_params"]),
            "trainable_share": round(m["trainable_params"] / m["total_params"], 6),
            "train_seconds": round(
                statistics.fmean(r["metrics"]["train_seconds"] for r in runs), 1
            ),
            "train_seconds_per_seed": [round(r["metrics"]["train_seconds"], 1) for r in runs],
            "wall_seconds": round(statistics.fmean(r["wall_seconds"] for r in runs), 1),
            "peak_memory_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            "epochs": [r["metrics"].get("epochs_run", len(r["metrics"]["history"])) for r in runs],
            "histories": [r["metrics"]["history"] for r in runs],
        }
        if any("peak_gpu_mb" in r for r in runs):
            entry["peak_gpu_mb"] = max(r.get("peak_gpu_mb", 0.0) for r in runs)
        calibrations = [r["metrics"]["calibration"] for r in runs if "calibration" in r["metrics"]]
        if calibrations:
            key = "test" if "test_ece_before" in calibrations[0] else "eval"
            entry["ece_before"] = round(
                statistics.fmean(c[f"{key}_ece_before"] for c in calibrations), 4
            )
            entry["ece_after"] = round(
                statistics.fmean(c[f"{key}_ece_after"] for c in calibrations), 4
            )
        strategies[name] = entry
    quality = {n: e["mean"] for n, e in strategies.items()}
    out: dict[str, Any] = {
        **info,
        "metric": metric,
        "split": split,
        "strategies": strategies,
        "pareto": {
            "params": pareto_front(
                {n: (e["trainable_params"], quality[n]) for n, e in strategies.items()}
            ),
            "time": pareto_front(
                {n: (e["train_seconds"], quality[n]) for n, e in strategies.items()}
            ),
        },
    }
    curve = _learning_curve(results, strategies, info)
    if curve:
        out["learning_curve"] = curve
    out["reading"] = reading(out)
    return out


def _learning_curve(
    results: list[dict[str, Any]], strategies: dict[str, Any], info: dict[str, Any]
) -> dict[str, Any] | None:
    sizes = info.get("train_sizes") or []
    if not sizes:
        return None
    pretrained = info.get("curve_strategy", "full")
    train_rows = info["examples"]["train"]
    curve: dict[str, Any] = {"sizes": [], "pretrained": pretrained, "series": {}}
    for size in sizes:
        n = train_rows if size is None else min(size, train_rows)
        curve["sizes"].append(n)
        for side in (pretrained, "scratch"):
            runs = [
                r
                for r in results
                if r["candidate"] == side
                and (r["train_size"] == size or (size is None and r["train_size"] is None))
            ]
            scores = [main_score(r["metrics"])[2] for r in runs]
            series = curve["series"].setdefault(side, {"mean": [], "std": [], "per_seed": []})
            series["mean"].append(round(statistics.fmean(scores), 4) if scores else None)
            series["std"].append(round(_std(scores), 4) if scores else None)
            series["per_seed"].append([round(s, 4) for s in scores])
    return curve


def _pct(x: float) -> str:
    return f"{x:.1%}" if x >= 0.001 else f"{x:.3%}"


def reading(c: dict[str, Any]) -> list[str]:
    """A few sentences a person can act on: what wins, by how much, whether the difference is
    more than seed noise, and what it costs."""
    s = c["strategies"]
    ranked = sorted(s, key=lambda n: s[n]["mean"], reverse=True)
    lines = _winner(c, ranked) + _cheaper(s, ranked) + _baselines(s, ranked[0], c["metric"])
    return lines + _calibration(s, c["split"]) + _curve(c.get("learning_curve"))


def _winner(c: dict[str, Any], ranked: list[str]) -> list[str]:
    """The best strategy, and whether the runner-up is more than seed noise behind."""
    s = c["strategies"]
    best = ranked[0]
    b = s[best]
    lines = [
        f"Best {c['split']} {c['metric']}: **{best}** with {b['mean']:.4f} ± {b['std']:.4f} over "
        f"{len(b['per_seed'])} seeds, training {_pct(b['trainable_share'])} of the parameters "
        f"in {b['train_seconds']:.0f} s."
    ]
    if len(ranked) > 1:
        second = ranked[1]
        gap = b["mean"] - s[second]["mean"]
        # the spread of a difference between two single runs
        noise = (b["std"] ** 2 + s[second]["std"] ** 2) ** 0.5
        verdict = (
            "within the seed-to-seed spread, so treat them as tied"
            if gap <= noise + 1e-9
            else "larger than the seed-to-seed spread"
        )
        lines.append(
            f"Runner-up: {second} at {s[second]['mean']:.4f}; the gap of {gap:.4f} is {verdict}."
        )
    return lines


def _cheaper(s: dict[str, Any], ranked: list[str]) -> list[str]:
    """The fastest and the smallest strategy within one point (or the noise) of the best."""
    best = ranked[0]
    b = s[best]
    tolerance = max(0.01, b["std"])
    near = [n for n in ranked if b["mean"] - s[n]["mean"] <= tolerance and n != best]
    if not near:
        return []
    lines = []
    fastest = min([best, *near], key=lambda n: s[n]["train_seconds"])
    smallest = min([best, *near], key=lambda n: s[n]["trainable_params"])
    if fastest != best:
        lines.append(
            f"For speed: {fastest} is within {tolerance:.2f} of the best and trains in "
            f"{s[fastest]['train_seconds']:.0f} s instead of {b['train_seconds']:.0f} s."
        )
    if smallest != best:
        lines.append(
            f"For size: {smallest} is within {tolerance:.2f} of the best while training only "
            f"{s[smallest]['trainable_params']:,} parameters "
            f"({_pct(s[smallest]['trainable_share'])})."
        )
    return lines


def _baselines(s: dict[str, Any], best: str, metric: str) -> list[str]:
    """What pretraining, fine-tuning the encoder and a bag of words are worth."""
    b = s[best]
    lines = []
    if "scratch" in s and best != "scratch":
        gain = b["mean"] - s["scratch"]["mean"]
        lines.append(
            f"Pretraining is worth {gain:+.4f} {metric} here: the same architecture from random "
            f"weights reaches {s['scratch']['mean']:.4f}."
        )
    if "head" in s and "full" in s:
        gap = s["full"]["mean"] - s["head"]["mean"]
        lines.append(
            f"Fine-tuning the encoder (full) beats a frozen encoder (head) by {gap:+.4f}: "
            + (
                "the pretrained features do not fit this domain as they are."
                if gap > 0.02
                else "the pretrained features already fit this data."
            )
        )
    if "tfidf" in s and best != "tfidf":
        lines.append(
            f"The bag-of-words baseline (tfidf) reaches {s['tfidf']['mean']:.4f}, "
            f"{b['mean'] - s['tfidf']['mean']:.4f} below the best."
        )
    return lines


def _calibration(s: dict[str, Any], split: str) -> list[str]:
    calibrated = [e for e in s.values() if "ece_before" in e]
    if not calibrated:
        return []
    before = statistics.fmean(e["ece_before"] for e in calibrated)
    after = statistics.fmean(e["ece_after"] for e in calibrated)
    where = "test" if split == "test" else "eval (where it was fitted)"
    effect = (
        "it helps"
        if after < before - 0.005
        else "it does not help here: the models were already well calibrated, or the "
        "eval split is too small to fit the temperature well"
        if after > before + 0.005
        else "it changes little"
    )
    return [
        f"Calibration: temperature scaling on the eval split moves the mean {where} "
        f"ECE from {before:.3f} to {after:.3f}; {effect}."
    ]


def _curve(curve: dict[str, Any] | None) -> list[str]:
    """How few labelled examples the pretrained model needs to match random weights on all."""
    if not curve:
        return []
    pre, scr = curve["series"][curve["pretrained"]], curve["series"]["scratch"]
    full_scratch = scr["mean"][-1]
    matched = next(
        (
            n
            for n, m in zip(curve["sizes"], pre["mean"], strict=True)
            if m is not None and full_scratch is not None and m >= full_scratch
        ),
        None,
    )
    if matched is None or full_scratch is None:
        return []
    return [
        f"Learning curve: with {matched:,} labelled examples the pretrained model "
        f"({curve['pretrained']}) already matches what the random-weight model reaches "
        f"with all {curve['sizes'][-1]:,}."
    ]
