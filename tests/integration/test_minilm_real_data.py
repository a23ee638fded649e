"""Integration: the real packaged minilm model on slices of real data, and the CLI end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import headstart
from headstart.data.builtin import bbc_news_splits
from tests.helpers import SHARED_DATA

DATA = SHARED_DATA
FPB = DATA / "financial_phrasebank"
needs_fpb = pytest.mark.skipif(not FPB.exists(), reason="../shared/data is not here")
pytestmark = pytest.mark.integration


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-m", "headstart.cli.main", *args],
        capture_output=True, text=True, input=stdin, env=env, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fpb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not FPB.exists():
        pytest.skip("../shared/data is not here")
    out = tmp_path_factory.mktemp("fpb") / "run"
    done = cli(
        "fit", "--data", str(FPB / "allagree_train.csv"),
        "--eval-data", str(FPB / "allagree_dev.csv"),
        "--test-data", str(FPB / "allagree_test.csv"), "--strategy", "head", "-o", str(out),
        "--cache-dir", str(out.parent / "cache"), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    return out


@needs_fpb
def test_head_on_financial_phrasebank(fpb_run: Path) -> None:
    metrics = json.loads((fpb_run / "metrics.json").read_text())
    # frozen minilm + linear head: measured 0.87 on the all-agree test split
    assert metrics["test"]["accuracy"] >= 0.82
    assert metrics["trainable_params"] == 384 * 3 + 3
    assert metrics["test"]["examples"] == 227


@needs_fpb
def test_predict_from_stdin_and_file_keeps_input_order(fpb_run: Path, tmp_path: Path) -> None:
    texts = [
        "Operating profit rose sharply to EUR 13.1 mn from EUR 8.7 mn .",
        "The company said it will cut 200 jobs after sales fell .",
        "The annual general meeting will be held in Helsinki .",
    ]
    done = cli("predict", str(fpb_run), stdin="\n".join(texts) + "\n")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == ["positive", "negative", "neutral"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp_path / "out.jsonl"
    done = cli("predict", str(fpb_run), "--input", str(source), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["label"] for x in out.read_text().splitlines()] == [
        r["label"] for r in rows
    ]


@needs_fpb
def test_evaluate_matches_fit(fpb_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    done = cli("evaluate", str(fpb_run), "--data", str(FPB / "allagree_test.csv"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(out.read_text())
    fitted = json.loads((fpb_run / "metrics.json").read_text())["test"]
    assert evaluated["accuracy"] == pytest.approx(fitted["accuracy"], abs=0.01)
    assert "accuracy" in done.stdout


def test_partial_on_a_bbc_news_slice(tmp_path: Path) -> None:
    splits = bbc_news_splits()
    paths = {}
    for name, n in (("train", 240), ("test", 100)):
        texts, labels = splits[name]
        paths[name] = tmp_path / f"{name}.csv"
        with paths[name].open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts[:n], labels[:n], strict=True))
    result = headstart.fit(
        data=str(paths["train"]), test_data=str(paths["test"]), strategy="partial",
        epochs=3, batch_size=16, max_length=128, output=str(tmp_path / "run"), quiet=True,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    assert result.metrics["frozen_layers"] == 3
    assert result.metrics["test"]["accuracy"] >= 0.85
    predictor = headstart.load(result.run_dir)
    rows = predictor.predict(["The striker scored twice as the club won the league title."])
    assert rows[0]["label"] == "sport"
