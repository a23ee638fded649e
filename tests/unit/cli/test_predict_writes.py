"""``predict -o`` and ``evaluate -o`` write through the atomic writer of ``runs.folder``: the
file appears whole or not at all, and no hidden temporary file is left behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import headstart.api
from headstart.cli import evaluate as evaluate_cli
from headstart.cli.predict import predict


class FakePredictor:
    tokens = False
    pairs = False

    def predict(self, texts: list[str], pairs: list[str] | None) -> list[dict[str, Any]]:
        return [{"text": t, "label": "pos", "score": 1.0} for t in texts]


@pytest.fixture
def texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(headstart.api, "load", lambda *a, **k: FakePredictor())
    path = tmp_path / "texts.txt"
    path.write_text("first text\nsecond – text\n", encoding="utf-8")
    return path


def _predict(texts: Path, output: Path) -> None:
    predict("run", input=str(texts), output=str(output), text_pair_column=None, text_column=None,
            encoding="utf-8", batch_size=8, precision="auto", backend="torch")  # fmt: skip


def test_predict_writes_jsonl_and_no_temporary(texts: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    _predict(texts, target)
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["first text", "second – text"]
    assert "–" in target.read_text(encoding="utf-8")  # UTF-8, not escaped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "texts.txt"]


def test_predict_replaces_an_existing_file(texts: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    _predict(texts, target)
    assert len(target.read_text(encoding="utf-8").splitlines()) == 2


def test_predict_into_a_folder_fails_and_leaves_no_temporary(texts: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-folder"
    target.mkdir()
    with pytest.raises(IsADirectoryError):  # the same error as before; no hidden .tmp now
        _predict(texts, target)
    assert target.is_dir() and list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder", "texts.txt"]


def test_evaluate_writes_metrics_atomically(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    evaluate_cli._write({"accuracy": 0.5, "note": "é"}, None, str(run), "data/test.csv")
    target = run / "evaluation-test.json"
    assert target.read_text() == json.dumps({"accuracy": 0.5, "note": "é"}, indent=2) + "\n"
    assert [p.name for p in run.iterdir()] == ["evaluation-test.json"]
