"""``headstart runs``: list the run folders under a directory."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from headstart.cli.common import out_console, user_errors
from headstart.runs.listing import FILTER_KEYS, SORT_KEYS


@user_errors
def runs(
    directory: Annotated[
        str, typer.Argument(help="the folder that holds run folders", show_default=True)
    ] = "runs",
    sort: Annotated[str, typer.Option(help=f"order: {', '.join(SORT_KEYS)}")] = "time",
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help=f"KEY=VALUE, repeatable; keys {', '.join(FILTER_KEYS)} (name, data and model "
            "match a part: data=phrasebank)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List run folders: when, what data, model and strategy, the main metric, training time."""
    from pathlib import Path

    from rich.table import Table

    from headstart.runs.listing import list_runs, matches, parse_filters, sort_runs

    filters = parse_filters(filter_ or [])
    found = sort_runs([r for r in list_runs(Path(directory)) if matches(r, filters)], sort)
    if as_json:
        rows = [{k: v for k, v in r.to_dict().items() if k != "finished_at"} for r in found]
        print(json.dumps(rows, indent=2))
        return
    if not found:
        out_console.print(f"no run folders in {directory}" + (" match" if filters else ""))
        return
    table = Table(title=f"{len(found)} runs in {directory}", title_justify="left")
    for column in ("finished", "run", "data", "model", "strategy", "metric", "train s"):
        table.add_column(column, justify="right" if column == "train s" else "left")
    for r in found:
        if r.status != "complete":
            table.add_row("incomplete", r.name, r.problem or "", "", "", "", "", style="yellow")
            continue
        table.add_row(
            r.finished, r.name, r.data, r.model, r.strategy,
            f"{r.split} {r.metric} {r.value:.4f}", f"{r.train_seconds:.1f}",
        )  # fmt: skip
    out_console.print(table)
