"""The model card every run folder gets: Hugging Face YAML metadata, then the prose."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml

import headstart
from headstart.runs.modelcard import model_card
from tests.tiny_models import save_tiny

CONFIG = {
    "data": "data/train.csv", "eval_data": "data/dev.csv", "test_data": None, "model": "minilm",
    "max_length": 128, "batch_size": 32, "seed": 42, "dropout": 0.1, "pooling": "mean",
    "weight_decay": 0.01, "warmup_ratio": 0.1,
}  # fmt: skip
METRICS: dict[str, Any] = {
    "eval": {"accuracy": 0.9125, "macro_f1": 0.9, "examples": 80,
             "per_class": {"neg": {"precision": 0.9, "recall": 0.92, "f1": 0.91, "support": 40}}},
    "task": "classification", "labels": ["neg", "pos"], "strategy": "partial",
    "strategy_summary": "freeze the lowest layers", "frozen_layers": 3, "num_layers": 6,
    "trainable_params": 5_324_547, "total_params": 22_714_371, "epochs": 4, "best_epoch": 2,
    "lr": 1.5e-4, "head_lr": 1e-3, "precision": "bf16", "device": "cpu", "train_seconds": 46.2,
    "examples": {"train": 720, "eval": 80}, "skipped_rows": {"train": 3, "eval": 0},
}  # fmt: skip
META = {"task": "classification", "labels": ["neg", "pos"], "pooling": "mean", "pairs": False}


def front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_records_what_the_issue_asks() -> None:
    card = model_card(CONFIG, METRICS, META, "runs/sst2-partial")
    meta = front_matter(card)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["pipeline_tag"] == "text-classification" and "headstart" in meta["tags"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "eval" and result["dataset"]["name"] == "dev"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"accuracy": 0.9125, "f1": 0.9}
    body = card.split("---\n", 2)[2]
    for fragment in (
        "# sst2-partial",
        "**Base model**: `minilm`",
        "**train**: `data/train.csv` (720 examples, 3 rows with empty text or label skipped)",
        "**eval**: `data/dev.csv` (80 examples)",
        "**Strategy**: partial: freeze the lowest layers",
        "**Frozen layers**: 3 of 6",
        "**Trainable parameters**: 5,324,547 of 22,714,371 (23.44%)",
        "| Accuracy | 0.9125 |",
        "| neg | 0.9000 | 0.9200 | 0.9100 | 40 |",
        "## Intended use and limitations",
        'headstart.load("runs/sst2-partial")',
        "trained on English text",
    ):
        assert fragment in body, fragment


@pytest.mark.parametrize(
    "task, scores, types",
    [
        ("multilabel", {"micro_f1": 0.7, "subset_accuracy": 0.4}, {"f1", "accuracy"}),
        ("regression", {"pearson": 0.88, "spearman": 0.87, "mse": 0.5},
         {"pearsonr", "spearmanr", "mse"}),
        ("tokens", {"f1": 0.9, "precision": 0.91, "recall": 0.89}, {"f1", "precision", "recall"}),
    ],
)  # fmt: skip
def test_every_task_maps_its_metrics(task: str, scores: dict[str, float], types: set[str]) -> None:
    metrics = METRICS | {"task": task, "eval": scores, "test": scores, "labels": []}
    config = CONFIG | {"test_data": "data/test.jsonl"}
    meta = front_matter(model_card(config, metrics, META | {"task": task}, "run"))
    splits = meta["model-index"][0]["results"]
    assert [r["dataset"]["split"] for r in splits] == ["test", "eval"]
    assert {m["type"] for m in splits[0]["metrics"]} == types
    expected = "token-classification" if task == "tokens" else "text-classification"
    assert meta["pipeline_tag"] == expected


def test_local_or_scratch_models_are_no_hub_ids(tmp_path: Path) -> None:
    local = front_matter(model_card(CONFIG | {"model": str(tmp_path)}, METRICS, META))
    assert "base_model" not in local
    scratch = model_card(CONFIG | {"model": "scratch:bert-base-uncased"}, METRICS, META)
    assert front_matter(scratch)["base_model"] == "bert-base-uncased"
    assert "random weights" in scratch


def test_fit_writes_the_card_into_the_run_folder(tmp_path: Path) -> None:
    rows = [(f"a {w} day number {i}", w) for i, w in enumerate(["good", "bad"] * 12)]
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    run = tmp_path / "run"
    headstart.fit(
        data=str(tmp_path / "train.csv"), model=str(save_tiny("bert", tmp_path / "tiny")),
        strategy="head", epochs=1, max_length=16, output=str(run), quiet=True,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    card = (run / "README.md").read_text()
    assert (run / "model" / "README.md").read_text() == card
    meta = front_matter(card)
    assert meta["tags"][-1] == "strategy-head" and "base_model" not in meta  # a local folder
    assert "# run" in card and "**Trainable parameters**: " in card
    assert "a stratified 10% of the training data" in card
