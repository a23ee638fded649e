"""Regression and sentence pairs end to end on a tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import headstart
from tests.helpers import write_rows

write = write_rows  # a CSV of a header and rows


def test_regression_targets_are_scaled_and_restored(tiny_model: str, tmp_path: Path) -> None:
    rows = [[f"sentence number {i} " + "good " * (i % 5), 10.0 + 2.5 * (i % 5)] for i in range(60)]
    data = write(tmp_path / "train.csv", ["text", "score"], rows)
    result = headstart.fit(
        data=data, label_column="score", model=tiny_model, epochs=2, batch_size=8,
        max_length=32, output=str(tmp_path / "run"), quiet=True, lr=1e-3, head_lr=1e-2,
    )  # fmt: skip
    metrics = result.metrics
    assert metrics["task"] == "regression"
    assert set(metrics["eval"]) >= {"pearson", "spearman", "mse", "mae"}
    assert metrics["labels"] == []
    meta = json.loads((result.run_dir / "model" / "headstart.json").read_text())
    assert meta["task"] == "regression" and meta["target_mean"] == pytest.approx(15.0, abs=0.6)
    predictor = headstart.load(result.run_dir, precision="fp32")
    rows_out = predictor.predict(["sentence good good", "sentence"])
    assert [set(r) for r in rows_out] == [{"text", "value"}] * 2
    # predictions live on the original scale (targets 10 … 20), not the standardised one
    assert all(5.0 < r["value"] < 25.0 for r in rows_out)
    report = (result.run_dir / "report.md").read_text()
    assert "pearson" in report and "Confusion" not in report


def test_sentence_pairs_fit_predict_and_cli(tiny_model: str, tmp_path: Path) -> None:
    rows = []
    for i in range(40):
        same = i % 2 == 0
        rows.append(
            [f"the cat sat {i}", f"the cat sat {i}" if same else f"stocks fell {i}", int(same)]
        )
    data = write(tmp_path / "pairs.csv", ["#1 String", "#2 String", "Quality"], rows)
    result = headstart.fit(
        data=data, text_column="#1 String", text_pair_column="#2 String", label_column="Quality",
        model=tiny_model, epochs=1, batch_size=8, max_length=32, output=str(tmp_path / "run"),
        quiet=True,
    )  # fmt: skip
    assert result.metrics["task"] == "classification"
    predictor = headstart.load(result.run_dir)
    assert predictor.pairs
    rows_out = predictor.predict(["a dog", "a cat"], pairs=["a dog", "stocks"])
    assert [r["text_pair"] for r in rows_out] == ["a dog", "stocks"]
    assert all(r["label"] in {"0", "1"} for r in rows_out)
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "headstart.cli.main", "predict", str(result.run_dir)],
        input="a dog\ta dog\nthe cat\tstocks fell\n", capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert [x["text_pair"] for x in lines] == ["a dog", "stocks fell"]
    missing_tab = subprocess.run(
        [sys.executable, "-m", "headstart.cli.main", "predict", str(result.run_dir)],
        input="no tab here\n", capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert missing_tab.returncode == 1
    assert "separated by a tab" in missing_tab.stderr and "Traceback" not in missing_tab.stderr


def test_pair_swap_trains_on_both_orders(tiny_model: str, tmp_path: Path) -> None:
    rows = [[f"a man plays {i}", f"someone plays {i}", 1.0 + i % 4] for i in range(30)]
    data = write(tmp_path / "pairs.csv", ["sentence1", "sentence2", "score"], rows)
    options = dict(
        data=data, eval_data=data, text_pair_column="sentence2", model=tiny_model, epochs=1,
        batch_size=8, max_length=32, quiet=True,
    )  # fmt: skip
    result = headstart.fit(output=str(tmp_path / "run"), pair_swap=True, **options)
    assert result.metrics["pair_swap"] is True
    assert result.metrics["examples"] == {"train": 60, "eval": 30}  # eval is not swapped
    assert "both ways round" in (result.run_dir / "README.md").read_text()
    with pytest.raises(headstart.HeadstartError, match="--pair-swap needs sentence pairs"):
        headstart.fit(
            data=write(tmp_path / "single.csv", ["text", "label"], [["x", "a"], ["y", "b"]] * 8),
            model=tiny_model, output=str(tmp_path / "no"), pair_swap=True, quiet=True,
        )  # fmt: skip
    assert not (tmp_path / "no").exists()


def test_bi_encoder_pairs_are_symmetric_and_cached_features_match_the_predictor(
    tiny_model: str, tmp_path: Path
) -> None:
    rows = [[f"a man plays {i}", f"someone plays {i % 7}", 1.0 + i % 4] for i in range(40)]
    data = write(tmp_path / "pairs.csv", ["sentence1", "sentence2", "score"], rows)
    options = dict(
        data=data, eval_data=data, model=tiny_model, epochs=2, batch_size=8, max_length=32,
        quiet=True, pair_encoding="bi", cache_dir=str(tmp_path / "cache"), task="regression",
        precision="fp32",
    )  # fmt: skip
    full = headstart.fit(output=str(tmp_path / "full"), **options)
    assert full.metrics["pair_encoding"] == "bi" and full.metrics["task"] == "regression"
    assert "encoded apart" in (full.run_dir / "README.md").read_text()
    predictor = headstart.load(full.run_dir, precision="fp32")
    assert predictor.apart
    a, b = ["a man plays 3", "a dog runs"], ["someone plays 3", "stocks fell sharply today"]
    assert torch.allclose(predictor.logits(a, b), predictor.logits(b, a), atol=1e-5)
    with pytest.raises(headstart.HeadstartError, match="compares two texts"):
        predictor.predict(a)
    # head: features come from the on-disk cache; the saved model must give the same scores
    head = headstart.fit(output=str(tmp_path / "head"), strategy="head", **options)
    assert head.metrics["cache_seconds"] >= 0
    got = headstart.load(head.run_dir, precision="fp32").logits(
        [r[0] for r in rows], [r[1] for r in rows]
    )
    values = torch.tensor([r[2] for r in rows])
    meta = json.loads((head.run_dir / "model" / "headstart.json").read_text())
    assert meta["pair_encoding"] == "bi"
    restored = got.squeeze(-1) * meta["target_std"] + meta["target_mean"]
    pearson = torch.corrcoef(torch.stack([restored, values]))[0, 1].item()
    assert pearson == pytest.approx(head.metrics["eval"]["pearson"], abs=1e-3)
    with pytest.raises(headstart.HeadstartError, match="--pair-encoding bi needs sentence pairs"):
        headstart.fit(
            data=write(tmp_path / "single.csv", ["text", "label"], [["x", "a"], ["y", "b"]] * 8),
            model=tiny_model, output=str(tmp_path / "no"), pair_encoding="bi", quiet=True,
        )  # fmt: skip
    assert not (tmp_path / "no").exists()
    # case markers belong to token tasks: asked for on pairs, one clear line, nothing written
    with pytest.raises(headstart.HeadstartError, match="--case-markers is for token"):
        headstart.fit(output=str(tmp_path / "marked"), **(options | {"case_markers": True}))
    assert not (tmp_path / "marked").exists()


def test_multilabel_from_jsonl_lists_with_tuned_threshold(tiny_model: str, tmp_path: Path) -> None:
    topics = [["sport"], ["money"], ["sport", "money"], ["weather"]]
    lines = [
        json.dumps({"text": f"{' and '.join(t)} news item {i}", "labels": t})
        for i, t in enumerate(topics * 12)
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(lines) + "\n")
    result = headstart.fit(
        data=str(data), label_column="labels", model=tiny_model, epochs=2, batch_size=8,
        max_length=32, output=str(tmp_path / "run"), quiet=True, tune_threshold=True,
        lr=1e-3, head_lr=1e-2,
    )  # fmt: skip
    metrics = result.metrics
    assert metrics["task"] == "multilabel"
    assert set(metrics["eval"]) >= {"micro_f1", "macro_f1", "subset_accuracy", "per_label"}
    assert set(metrics["eval"]["per_label"]) == {"money", "sport", "weather"}
    assert 0.0 < metrics["eval"]["threshold"] < 1.0
    meta = json.loads((result.run_dir / "model" / "headstart.json").read_text())
    assert meta["threshold"] == metrics["eval"]["threshold"]
    rows = headstart.load(result.run_dir).predict(["sport news"])
    assert set(rows[0]) == {"text", "labels", "scores"}
    assert set(rows[0]["scores"]) == {"money", "sport", "weather"}
    assert "Per label" in (result.run_dir / "report.md").read_text()


def test_separator_labels_mean_multilabel(tmp_path: Path) -> None:
    from headstart.data.labelled import load_splits

    rows = [[f"text {i}", "a,b" if i % 2 else "c"] for i in range(20)]
    path = write(tmp_path / "ml.csv", ["text", "label"], rows)
    splits = load_splits(path, label_separator=",")
    assert splits.task == "multilabel"
    assert splits.labels.names == ["a", "b", "c"]
    assert ["a", "b"] in splits.train.labels + splits.eval.labels


def test_tuned_thresholds_are_per_label_only_where_eval_has_enough_examples() -> None:
    import numpy as np
    import torch

    from headstart.tasks import MultiLabelTask, task_from_meta

    rng = np.random.default_rng(0)
    n = 400
    truth = np.zeros((n, 3), dtype=np.float32)
    truth[:, 0] = rng.random(n) < 0.3  # common: positives score 0.3-0.5, negatives below 0.25
    truth[:, 1] = rng.random(n) < 0.3  # common: positives above 0.75, negatives 0.55-0.7
    truth[:5, 2] = 1  # rare: too few eval examples for a threshold of its own
    probs = np.where(truth[:, :1], rng.uniform(0.3, 0.5, (n, 1)), rng.uniform(0.0, 0.25, (n, 1)))
    probs = np.hstack(
        [
            probs,
            np.where(truth[:, 1:2], rng.uniform(0.75, 1, (n, 1)), rng.uniform(0.55, 0.7, (n, 1))),
            np.where(truth[:, 2:], 0.9, 0.1),
        ]
    )
    logits = torch.logit(torch.tensor(probs, dtype=torch.float32))
    task = MultiLabelTask(["a", "b", "c"])
    assert task.tune_threshold(logits, torch.tensor(truth)) == 2
    assert task.per_label is not None
    assert 0.25 < task.per_label[0] <= 0.3 and 0.7 <= task.per_label[1] <= 0.75
    assert task.per_label[2] == task.threshold
    metrics = task.metrics(logits, torch.tensor(truth))
    assert (
        metrics["macro_f1"] == 1.0 and metrics["per_label"]["b"]["threshold"] == task.per_label[1]
    )
    reloaded = task_from_meta(task.meta())
    assert isinstance(reloaded, MultiLabelTask) and reloaded.per_label == task.per_label


def test_bi_encoder_head_starts_as_the_fitted_cosine() -> None:
    from transformers import AutoTokenizer

    from headstart.data.batching import collate, encode
    from headstart.models.classifier import TextClassifier
    from headstart.models.cosine_start import pair_cosines, start_head_from_cosine
    from headstart.models.source import packaged_minilm_dir
    from headstart.tasks import ClassificationTask, RegressionTask
    from tests.tiny_models import tiny_encoder

    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder("bert"), 1, dropout=0.0, pair_encoding="bi")
    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm_dir())
    words = ["cat", "dog", "market", "rain", "goal", "bank", "film", "song"]
    texts = [f"{words[i % 8]} {words[i * 3 % 8]} {i}" for i in range(60)]
    pairs = [f"{words[i * 5 % 8]} {words[i % 8]}" for i in range(60)]
    encoded = encode(tokenizer, texts, 32, pairs, apart=True)
    cosines = pair_cosines(model, encoded, list(range(60)), "fp32", "cpu")
    values = torch.tensor(3.0 + 2.0 * cosines, dtype=torch.float32)
    regression = RegressionTask.fit(values.tolist())
    note = start_head_from_cosine(model, encoded, values, regression, "fp32", "cpu", seed=0)
    assert "fitted on 60 training pairs" in note
    model.eval()
    with torch.inference_mode():
        logits = model(**collate(encoded, list(range(60))))
    assert torch.allclose(regression.restore(logits), values, atol=1e-3)

    torch.manual_seed(0)  # the same encoder weights: the same cosines
    model = TextClassifier(tiny_encoder("bert"), 2, dropout=0.0, pair_encoding="bi")
    labels = torch.tensor((cosines > np.median(cosines)).astype(int))
    task = ClassificationTask(["apart", "close"])
    start_head_from_cosine(model, encoded, labels, task, "fp32", "cpu", seed=0)
    with torch.inference_mode():
        predicted = model.eval()(**collate(encoded, list(range(60)))).argmax(-1)
    assert (predicted == labels).float().mean() >= 0.9
