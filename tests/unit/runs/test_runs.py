"""``headstart runs`` over real run folders made by ``headstart.fit`` (tiny model, a slice of
Financial PhraseBank), beside an interrupted run, a staging folder and a non-run folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from tests.helpers import SHARED_DATA, head_rows
from tests.tiny_models import save_tiny

PHRASEBANK = SHARED_DATA / "financial_phrasebank"
pytestmark = pytest.mark.skipif(not PHRASEBANK.exists(), reason="../shared/data is not here")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs-list")
    train = head_rows(PHRASEBANK / "allagree_train.csv", root / "train.csv", 100)
    dev = head_rows(PHRASEBANK / "allagree_dev.csv", root / "dev.csv", 50)
    test = head_rows(PHRASEBANK / "allagree_test.csv", root / "test.csv", 50)
    model = str(save_tiny("bert", root / "tiny-bert"))
    runs = root / "runs"
    common = {"data": train, "eval_data": dev, "model": model, "max_length": 40, "quiet": True,
              "cache_dir": str(root / "cache"), "batch_size": 16}  # fmt: skip
    headstart.fit(**common, strategy="head", epochs=2, output=str(runs / "a-head"))
    headstart.fit(
        **common, strategy="partial", epochs=1, test_data=test, output=str(runs / "b-partial")
    )
    # the head run finished first: make its time unmistakably older
    old = (runs / "a-head" / "metrics.json").stat().st_mtime - 3600
    os.utime(runs / "a-head" / "metrics.json", (old, old))
    (runs / "c-interrupted").mkdir()
    (runs / "c-interrupted" / "config.json").write_text("{}")
    (runs / "d-broken").mkdir()
    (runs / "d-broken" / "metrics.json").write_text('{"task": "classification"')
    (runs / ".e.partial-123").mkdir()
    (runs / ".e.partial-123" / "metrics.json").write_text("{}")
    (runs / "compare").mkdir()
    (runs / "compare" / "comparison.json").write_text("{}")
    return runs


def listed(runs_dir: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["runs", str(runs_dir), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_lists_runs_newest_first_and_incomplete_last(runs_dir: Path) -> None:
    rows = listed(runs_dir)
    assert [r["name"] for r in rows] == ["b-partial", "a-head", "c-interrupted", "d-broken"]
    partial, head = rows[0], rows[1]
    metrics = json.loads((runs_dir / "b-partial" / "metrics.json").read_text())
    assert partial["split"] == "test" and partial["metric"] == "accuracy"
    assert partial["value"] == metrics["test"]["accuracy"]
    assert partial["train_seconds"] == metrics["train_seconds"] and partial["strategy"] == "partial"
    assert head["split"] == "eval" and head["status"] == "complete"
    assert rows[2]["status"] == "incomplete" and "no metrics.json" in rows[2]["problem"]
    assert "unreadable" in rows[3]["problem"]


def test_sort_and_filter(runs_dir: Path) -> None:
    by_seconds = listed(runs_dir, "--sort", "seconds")
    complete = [r for r in by_seconds if r["status"] == "complete"]
    assert [r["train_seconds"] for r in complete] == sorted(r["train_seconds"] for r in complete)
    by_metric = [r["value"] for r in listed(runs_dir, "--sort", "metric")[:2]]
    assert by_metric == sorted(by_metric, reverse=True)
    assert [r["name"] for r in listed(runs_dir, "--filter", "strategy=head")] == ["a-head"]
    assert len(listed(runs_dir, "--filter", "data=train", "--filter", "model=tiny")) == 2
    assert listed(runs_dir, "--filter", "strategy=lora") == []


def test_table_and_errors(runs_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["runs", str(runs_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "4 runs in" in result.output and "test accuracy" in result.output
    assert "incomplete" in result.output and ".e.partial" not in result.output

    for args, fragment in (
        (["--filter", "strategy"], "expected KEY=VALUE"),
        (["--filter", "colour=red"], "unknown key 'colour'"),
        (["--sort", "speed"], "--sort 'speed': choose one of: time, metric, seconds, strategy"),
    ):
        bad = CliRunner().invoke(app, ["runs", str(runs_dir), *args])
        assert bad.exit_code == 1 and fragment in bad.output, bad.output
    missing = CliRunner().invoke(app, ["runs", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no such folder" in missing.output
