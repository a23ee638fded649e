"""``headstart shift``: how far a domain corpus is from general English, for a source model."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from headstart.cli.common import out_console, user_errors
from headstart.shift.diagnosis import DEFAULT_REFERENCE, ShiftReport

MANY_VALUED = ("--corpus", "--reference")


class ShiftCommand(TyperCommand):
    """Lets ``--corpus`` and ``--reference`` take several values after one flag, so a shell glob
    works (``--corpus data/*.txt``): click options take one value per flag, so the values after
    such a flag, up to the next option, are given that flag each."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        spread: list[str] = []
        flag = None
        for arg in args:
            if arg.startswith("-") and arg != "-":
                name = arg.split("=", 1)[0]
                flag = name if name in MANY_VALUED else None
                spread.append(arg)
            elif flag is not None and spread[-1] != flag:
                spread.extend([flag, arg])
            else:
                spread.append(arg)
        return super().parse_args(ctx, spread)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


ROWS = (  # statistic, attribute, format
    ("documents", "documents", lambda v: f"{v:,}"),
    ("words", "words", lambda v: f"{v:,}"),
    ("distinct words", "distinct_words", lambda v: f"{v:,}"),
    ("fertility (pieces per word)", "fertility", number),
    ("fragmented share (3+ pieces)", "fragmented_share", percent),
    ("unknown-token rate", "unk_rate", percent),
    ("coverage (words kept whole)", "coverage", percent),
    ("coverage of the 1,000 most frequent words", "frequent_word_coverage", percent),
    ("distinctive terms", "distinctive_terms", lambda v: f"{v:,}"),
    ("distinctive terms: share of words", "distinctive_share", percent),
    ("distinctive terms: fertility", "distinctive_fertility", number),
    ("distinctive terms: coverage", "distinctive_coverage", percent),
    ("masked-LM pseudo-perplexity", "pseudo_perplexity", number),
)


def print_report(report: ShiftReport) -> None:
    table = Table(title=f"Domain shift for {report.model}: domain against reference")
    for column in ("statistic", "domain", "reference", "ratio"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    for label, attribute, show in ROWS:
        d, r = getattr(report.domain, attribute), getattr(report.reference, attribute)
        ratio = f"{d / r:.2f}" if d is not None and r else "n/a"
        table.add_row(label, show(d) if d is not None else "n/a",
                      show(r) if r is not None else "n/a", ratio)  # fmt: skip
    out_console.print(table)

    words = Table(title="Most fragmented frequent domain words (ranked by extra tokens)")
    for column in ("word", "count", "pieces"):
        words.add_column(column, justify="right" if column == "count" else "left")
    for item in report.domain.most_fragmented:
        words.add_row(item.word, f"{item.count:,}", " ".join(item.pieces))
    out_console.print(words)

    for note in report.notes:
        out_console.print(f"note: {note}")
    out_console.print(f"\n[bold]{report.recommendation}[/]")
    out_console.print("evidence:")
    for e in report.evidence:
        shown = f"{e.value:.4f}" if e.comparison == "ratio" else f"{100 * e.value:+.2f} points"
        limits = (f"{e.moderate:g}/{e.large:g}" if e.comparison == "ratio"
                  else f"{100 * e.moderate:g}/{100 * e.large:g} points")  # fmt: skip
        level = f"{e.level} (moderate/large at {limits})"
        out_console.print(f"  {e.statistic} {e.comparison} {shown}: {level}; {e.why}")


@user_errors
def shift(
    corpus: Annotated[
        list[str],
        typer.Option(
            "--corpus",
            help="domain corpus: text files (one document per line) or tables with "
            "--text-column; several files after one --corpus (a shell glob works)",
        ),
    ],
    reference: Annotated[
        list[str] | None,
        typer.Option(
            help=f"reference corpus (files, or the builtin '{DEFAULT_REFERENCE}'); "
            f"default {DEFAULT_REFERENCE}"
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="hub id, local folder or 'minilm' (packaged default)")
    ] = "minilm",
    text_column: Annotated[
        str | None, typer.Option(help="text column of table inputs (default: text or sentence)")
    ] = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the files")] = "utf-8",
    max_docs: Annotated[
        int, typer.Option(help="documents drawn (seeded) from each corpus, to stay fast")
    ] = 2000,
    sentences: Annotated[
        int, typer.Option(help="sentences drawn (seeded) for pseudo-perplexity; 0 skips it")
    ] = 200,
    max_tokens: Annotated[
        int, typer.Option(help="pseudo-perplexity: tokens kept per sentence")
    ] = 32,
    seed: Annotated[int, typer.Option(help="seed of the samples")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object to stdout, nothing else")
    ] = False,
    trust_remote_code: Annotated[
        bool, typer.Option(help="allow a hub model to run its own code")
    ] = False,
) -> None:
    """Diagnose the domain shift: sub-word fertility, fragmentation, unknown tokens, vocabulary
    coverage and masked-LM pseudo-perplexity of a domain corpus against a general-English
    reference, then recommend how much of the model to fine-tune."""
    from headstart.shift import diagnosis

    report = diagnosis.shift(
        model=model, corpus=corpus, reference=reference or [DEFAULT_REFERENCE],
        text_column=text_column, encoding=encoding, max_docs=max_docs, sentences=sentences,
        max_tokens=max_tokens, seed=seed, trust_remote_code=trust_remote_code,
    )  # fmt: skip
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)
