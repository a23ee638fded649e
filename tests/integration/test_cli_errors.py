"""Bad input through the real command line: exit code 1, one ``error: ...`` line, no traceback,
and nothing left behind. Every case fails before a model is loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from headstart.cli.common import user_errors
from headstart.errors import DataError
from tests.helpers import SHARED_DATA

PHRASEBANK_DEV = SHARED_DATA / "financial_phrasebank" / "allagree_dev.csv"


def run_cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HEADSTART_DEBUG", "FORCE_COLOR")}
    env |= {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "COLUMNS": "60"}
    return subprocess.run(
        [sys.executable, "-m", "headstart.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    details = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, details
    assert "Traceback" not in result.stderr, details
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, details
    line = lines[0]
    assert line.startswith("error: "), details
    assert len(line) > len("error: ") + 10, details
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


TWO_CLASSES = "text,label\ngood news,pos\nbad news,neg\ngreat,pos\nawful,neg\nfine,pos\npoor,neg\n"


def phrasebank_or_copy(tmp: Path) -> str:
    """The real financial phrasebank dev file (columns text,label) when the shared data is here."""
    if PHRASEBANK_DEV.is_file():
        return str(PHRASEBANK_DEV.resolve())
    return write(tmp / "allagree_dev.csv", TWO_CLASSES.replace("pos", "positive"))


# Each case: (files to write in tmp) -> (extra fit arguments, fragments the error line must hold)
Case = Callable[[Path], tuple[list[str], list[str]]]


def missing_file(tmp: Path) -> tuple[list[str], list[str]]:
    missing = tmp / "nowhere" / "train.csv"
    return ["--data", str(missing)], [str(missing), "file not found"]


def unknown_text_column(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES.replace("text,label", "body,label"))
    return ["--data", data], ["no 'text' or 'sentence' column", "found columns: body, label"]


def wrong_text_column(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return (
        ["--data", data, "--text-column", "review"],
        ["no column 'review'", "found columns: text, label", "--text-column"],
    )


def unknown_label_column(tmp: Path) -> tuple[list[str], list[str]]:
    data = phrasebank_or_copy(tmp)
    return (
        ["--data", data, "--label-column", "sentiment"],
        ["no label column 'sentiment'", "found columns: text, label", "--label-column"],
    )


def empty_text_strict(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES.replace("great,pos", ",pos"))
    return (
        ["--data", data, "--strict"],
        [f"{data} line 4: empty or missing text in column 'text'"],
    )


def eval_label_unseen(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "train.csv", TWO_CLASSES)
    evaluation = write(tmp / "eval.csv", "text,label\nok,pos\nmeh,neutral\n")
    return (
        ["--data", data, "--eval-data", evaluation],
        ["eval label 'neutral'", "never appears in the training data", "neg, pos"],
    )


def single_class(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", "text,label\n" + "".join(f"text {i},same\n" for i in range(8)))
    return ["--data", data], ["label 'same'", "at least two classes"]


def undecodable(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES.encode() + b"caf\xe9,pos\n")
    return ["--data", data], [f"{data} line 8:", "--encoding"]


def malformed_row(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES.replace("awful,neg", "awful, really awful,neg"))
    return ["--data", data], [f"{data} line 5:", "malformed CSV row with 3 fields, expected 2"]


def bogus_strategy(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return (
        ["--data", data, "--strategy", "bogus"],
        ["unknown strategy 'bogus'", "full", "partial", "head"],
    )


def zero_epochs(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return ["--data", data, "--epochs", "0"], ["--epochs must be positive", "got 0"]


def bogus_task(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return (
        ["--data", data, "--task", "tokens-please"],
        ["unknown task 'tokens-please'", "classification, multilabel, regression"],
    )


def missing_pair_column(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return (
        ["--data", data, "--text-pair-column", "#2 String"],
        ["no second-text column '#2 String'", "found columns: text, label", "--text-pair-column"],
    )


def regression_needs_numbers(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return (
        ["--data", data, "--task", "regression"],
        ["d.csv line 2: train label 'pos' is not a number", "regression needs numeric labels"],
    )


def regression_value_not_numeric(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "sts.csv", "text,score\na,0.5\nb,3.8\nc,n/a\nd,4.2\ne,1.5\n")
    return (
        ["--data", data, "--task", "regression", "--label-column", "score"],
        ["sts.csv line 4", "label 'n/a' is not a number"],
    )


def tags_and_tokens_differ(tmp: Path) -> tuple[list[str], list[str]]:
    rows = [
        '{"tokens": ["Peter", "runs"], "tags": ["B-PER", "O"]}',
        '{"tokens": ["in", "Paris", "today"], "tags": ["O", "B-LOC"]}',
    ]
    data = write(tmp / "ner.jsonl", "\n".join(rows) + "\n")
    return ["--data", data], ["ner.jsonl line 2: 2 tags for 3 tokens", "one tag per token"]


def conll_ragged_line(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "ner.conll", "EU NNP B-ORG\nrejects VBZ O\n\nGerman B-MISC\n")
    return ["--data", data], ["ner.conll line 4: 2 columns where earlier lines have 3"]


def label_list_for_classification(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.jsonl", '{"text": "a", "labels": []}\n{"text": "b", "labels": "x"}\n')
    return (
        ["--data", data, "--task", "classification"],
        ["d.jsonl line 1: train label [] is a list", "one label per row"],
    )


def threshold_out_of_range(tmp: Path) -> tuple[list[str], list[str]]:
    data = write(tmp / "d.csv", TWO_CLASSES)
    return ["--data", data, "--threshold", "1.5"], ["--threshold must be between 0 and 1"]


FIT_CASES: list[Case] = [
    missing_file,
    unknown_text_column,
    wrong_text_column,
    unknown_label_column,
    empty_text_strict,
    eval_label_unseen,
    single_class,
    undecodable,
    malformed_row,
    bogus_strategy,
    zero_epochs,
    bogus_task,
    missing_pair_column,
    regression_needs_numbers,
    regression_value_not_numeric,
    tags_and_tokens_differ,
    conll_ragged_line,
    label_list_for_classification,
    threshold_out_of_range,
]


@pytest.mark.parametrize("case", FIT_CASES, ids=[c.__name__ for c in FIT_CASES])
def test_fit_bad_input(tmp_path: Path, case: Case) -> None:
    args, fragments = case(tmp_path)
    run_dir = tmp_path / "runs" / "out"
    result = run_cli("fit", *args, "-o", str(run_dir), "--quiet", cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not run_dir.exists()
    assert not (tmp_path / "runs").exists()
    assert result.stdout == ""


def test_predict_missing_run_folder(tmp_path: Path) -> None:
    texts = write(tmp_path / "texts.txt", "first text\nsecond text\n")
    target = tmp_path / "predictions.jsonl"
    missing = tmp_path / "no-such-run"
    result = run_cli("predict", str(missing), "-i", texts, "-o", str(target), cwd=tmp_path)
    assert_one_line_error(result, str(missing), "run folder not found")
    assert not target.exists()
    assert not missing.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["texts.txt"]  # no temporary file left


def test_evaluate_missing_data_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    missing = tmp_path / "missing.csv"
    target = tmp_path / "metrics.json"
    result = run_cli(
        "evaluate", str(run_dir), "--data", str(missing), "-o", str(target), cwd=tmp_path
    )
    assert_one_line_error(result, str(missing), "file not found")
    assert not target.exists()
    assert list(run_dir.iterdir()) == []


# In-process: how ``user_errors`` prints a message (no subprocess needed).


def test_user_errors_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    message = "data.csv line 3: " + "a long explanation that goes on " * 8

    @user_errors
    def boom() -> None:
        raise DataError(message)

    with pytest.raises(typer.Exit) as info:
        boom()
    assert info.value.exit_code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"error: {message}".strip()


def test_user_errors_does_not_read_the_message_as_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = "d.csv: no column 'x'; found columns: [text], [/label], [bold]"

    @user_errors
    def boom() -> None:
        raise DataError(message)

    with pytest.raises(typer.Exit):
        boom()
    assert capsys.readouterr().err.strip() == f"error: {message}"
