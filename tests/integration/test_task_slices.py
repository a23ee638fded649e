"""Every task end to end on small slices of real data with the packaged minilm model: sentence
pairs (MRPC), regression on pairs (STS-B), multi-label (GoEmotions) and NER (CoNLL-2003).

The frozen encoder (``head``) keeps these fast; each floor sits under what its slice measures
and above what a model that learnt nothing scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import headstart
from tests.helpers import SHARED_DATA

DATA = SHARED_DATA
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DATA.exists(), reason="../shared/data is not here"),
]


def head_lines(source: Path, target: Path, n: int, skip: int = 0) -> str:
    """The header and ``n`` data lines (after ``skip``) of a TSV file."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    target.write_text("\n".join([lines[0], *lines[1 + skip : 1 + skip + n]]) + "\n")
    return str(target)


def conll_sentences(source: Path, target: Path, n: int) -> str:
    blocks = [b for b in source.read_text().split("\n\n") if b.strip()]
    target.write_text("\n\n".join(blocks[:n]) + "\n")
    return str(target)


def fit(tmp_path: Path, **options: object) -> dict:
    result = headstart.fit(
        strategy="head", output=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
        quiet=True, **options,
    )  # fmt: skip
    return result.metrics


def test_mrpc_sentence_pairs(tmp_path: Path) -> None:
    mrpc = DATA / "mrpc"
    m = fit(
        tmp_path,
        data=head_lines(mrpc / "train.tsv", tmp_path / "train.tsv", 300),
        eval_data=head_lines(mrpc / "dev.tsv", tmp_path / "dev.tsv", 100),
        text_column="#1 String", text_pair_column="#2 String", label_column="Quality",
    )  # fmt: skip
    assert m["task"] == "classification" and m["examples"] == {"train": 300, "eval": 100}
    assert m["eval"]["accuracy"] >= 0.70  # measured 0.76; the majority class alone is 0.69
    predictor = headstart.load(tmp_path / "run")
    [row] = predictor.predict(["A man is playing a guitar."], ["A man plays the guitar."])
    assert row["label"] in {"0", "1"} and row["text_pair"] == "A man plays the guitar."


def test_stsb_regression_on_pairs(tmp_path: Path) -> None:
    stsb = DATA / "stsb"
    m = fit(
        tmp_path,
        data=head_lines(stsb / "train.tsv", tmp_path / "train.tsv", 400),
        eval_data=head_lines(stsb / "dev.tsv", tmp_path / "dev.tsv", 150),
        text_column="sentence1", text_pair_column="sentence2",
    )  # fmt: skip
    assert m["task"] == "regression"  # detected from fractional scores
    assert set(m["eval"]) >= {"pearson", "spearman", "mse", "mae"}
    assert m["eval"]["pearson"] >= 0.5  # measured 0.71
    predictor = headstart.load(tmp_path / "run")
    [row] = predictor.predict(["A dog runs."], ["A dog is running."])
    assert 0.0 <= row["value"] <= 5.5


def test_goemotions_multilabel(tmp_path: Path) -> None:
    go = DATA / "goemotions"
    lines = (go / "train.jsonl").read_text().splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(lines[:1500]) + "\n")
    (tmp_path / "dev.jsonl").write_text(
        "\n".join((go / "dev.jsonl").read_text().splitlines()[:300]) + "\n"
    )
    m = fit(
        tmp_path, data=str(tmp_path / "train.jsonl"), eval_data=str(tmp_path / "dev.jsonl"),
        tune_threshold=True,
    )  # fmt: skip
    assert m["task"] == "multilabel" and len(m["labels"]) >= 20
    assert set(m["eval"]) >= {"micro_f1", "macro_f1", "subset_accuracy", "per_label"}
    assert m["eval"]["micro_f1"] >= 0.2  # measured 0.32
    [row] = headstart.load(tmp_path / "run").predict(["Thank you so much, this is wonderful!"])
    assert isinstance(row["labels"], list) and set(row["scores"]) == set(m["labels"])


def test_conll_ner(tmp_path: Path) -> None:
    conll = DATA / "conll2003"
    m = fit(
        tmp_path,
        data=conll_sentences(conll / "eng.train", tmp_path / "train.conll", 400),
        eval_data=conll_sentences(conll / "eng.testa", tmp_path / "dev.conll", 100),
        epochs=20,
    )  # fmt: skip
    assert m["task"] == "tokens" and "B-PER" in m["labels"]
    assert set(m["eval"]) >= {"precision", "recall", "f1", "per_type"}
    assert m["eval"]["f1"] >= 0.15  # measured 0.29; nothing learnt scores 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["eval"]["per_type"]["PER"]["support"] > 0
    text = "Peter Blackburn said the European Commission met in Brussels on Monday."
    [row] = headstart.load(tmp_path / "run").predict([text])
    for entity in row["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
