"""``report.md`` and a self-contained ``report.html`` (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from headstart.comparison.plots import all_figures

COLUMNS = ("strategy", "mean", "± std", "per seed", "trainable params", "share", "train s",
           "peak MB", "ECE before → after")  # fmt: skip


def table_rows(c: dict[str, Any]) -> list[list[str]]:
    s = c["strategies"]
    rows = []
    for name in sorted(s, key=lambda n: s[n]["mean"], reverse=True):
        e = s[name]
        ece = f"{e['ece_before']:.3f} → {e['ece_after']:.3f}" if "ece_before" in e else "–"
        front = " ★" if name in c["pareto"]["params"] or name in c["pareto"]["time"] else ""
        share = f"{e['trainable_share']:.2%}" if e["trainable_share"] >= 1e-4 else "<0.01%"
        if name == "tfidf":  # no pretrained encoder: a share of what?
            share = "–"
        rows.append(
            [
                name + front,
                f"{e['mean']:.4f}",
                f"{e['std']:.4f}",
                " ".join(f"{v:.3f}" for v in e["per_seed"].values()),
                f"{e['trainable_params']:,}",
                share,
                f"{e['train_seconds']:.1f}",
                f"{e['peak_memory_mb']:,.0f}",
                ece,
            ]
        )
    return rows


def _header(c: dict[str, Any]) -> list[str]:
    seeds = ", ".join(str(s) for s in c["seeds"])
    return [
        f"data `{c['data']}`"
        + (f", eval `{c['eval_data']}`" if c.get("eval_data") else "")
        + (f", test `{c['test_data']}`" if c.get("test_data") else ""),
        f"model `{c['model']}`; "
        + " / ".join(f"{n:,} {split}" for split, n in c["examples"].items())
        + f" examples; seeds {seeds}; metric: {c['split']} {c['metric']}",
        f"{c['jobs']} jobs, {c['job_seconds'] / 60:.1f} min of job time on {c['machine']}"
        + (
            f" ({c['reused']} reused from an earlier run; this run: "
            f"{c['wall_seconds'] / 60:.1f} min)"
            if c.get("reused")
            else f"; the whole comparison took {c['wall_seconds'] / 60:.1f} min"
        ),
    ]


def markdown(c: dict[str, Any], figure_files: dict[str, tuple[str, str]]) -> str:
    lines = ["# headstart compare", ""]
    lines += [f"- {h}" for h in _header(c)]
    lines += ["", "## Reading", ""] + [f"- {r}" for r in c["reading"]]
    lines += ["", "## Results", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|---" * len(COLUMNS) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(c)]
    lines += [
        "",
        "★ on a Pareto front (quality against trainable parameters or training time). "
        "Train s: mean over seeds, including building a frozen-encoder cache (the first seed "
        "builds it, later seeds reuse it). Peak MB: the job process's peak resident memory. "
        "ECE: expected calibration error before and after temperature scaling.",
    ]
    curve = c.get("learning_curve")
    if curve:
        lines += ["", "## Learning curve", "", "| examples | " + " | ".join(curve["series"]) + " |"]
        lines.append("|---" * (len(curve["series"]) + 1) + "|")
        for i, n in enumerate(curve["sizes"]):
            cells = []
            for series in curve["series"].values():
                m, sd = series["mean"][i], series["std"][i]
                cells.append("–" if m is None else f"{m:.4f} ± {sd:.4f}")
            lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    lines += ["", "## Figures", ""]
    for caption, path in figure_files.values():
        lines += [f"![{caption}]({path})", ""]
    return "\n".join(lines) + "\n"


def _inline_md(text: str) -> str:
    """``code`` and **bold** of the reading, as HTML (escaped first)."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}.meta{color:#555;font-size:.92em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border-bottom:1px solid #ddd;padding:.35em .7em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
tr:first-child td{font-weight:600}
.reading li{margin:.3em 0}.note{color:#555;font-size:.85em}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
"""


def render_html(c: dict[str, Any], figures: dict[str, tuple[str, bytes]]) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(c)
    )
    head = "".join(f"<th>{html.escape(col)}</th>" for col in COLUMNS)
    figs = "".join(
        f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, (caption, png) in figures.items()
    )
    curve_html = ""
    curve = c.get("learning_curve")
    if curve:
        names = list(curve["series"])
        body = ""
        for i, n in enumerate(curve["sizes"]):
            cells = []
            for side in names:
                m, sd = curve["series"][side]["mean"][i], curve["series"][side]["std"][i]
                cells.append("–" if m is None else f"{m:.4f} ± {sd:.4f}")
            body += f"<tr><td>{n:,}</td>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"
        curve_html = (
            "<h2>Learning curve</h2><table><tr><th>examples</th>"
            + "".join(f"<th>{html.escape(n)}</th>" for n in names)
            + f"</tr>{body}</table>"
        )
    meta = "".join(f"<div>{_inline_md(h)}</div>" for h in _header(c))
    reading = "".join(f"<li>{_inline_md(r)}</li>" for r in c["reading"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>headstart compare</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head>
<body>
<h1>headstart compare</h1>
<div class="meta">{meta}</div>
<h2>Reading</h2><ul class="reading">{reading}</ul>
<h2>Results</h2>
<table id="results"><tr>{head}</tr>{rows}</table>
<p class="note">★ on a Pareto front (quality against trainable parameters or training time).
Train s: mean over seeds, including building a frozen-encoder cache (the first seed builds it,
later seeds reuse it). Peak MB: the job process's peak resident memory. ECE: expected
calibration error before and after temperature scaling on the eval split.</p>
{curve_html}
<h2>Figures</h2>
{figs}
</body></html>
"""


def write_reports(folder: Path, c: dict[str, Any]) -> None:
    """``report.md`` (figures beside it in ``figures/``) and the self-contained
    ``report.html``."""
    figures = all_figures(c)
    (folder / "figures").mkdir(exist_ok=True)
    files = {}
    for name, (caption, png) in figures.items():
        (folder / "figures" / f"{name}.png").write_bytes(png)
        files[name] = (caption, f"figures/{name}.png")
    (folder / "report.md").write_text(markdown(c, files))
    (folder / "report.html").write_text(render_html(c, figures))
