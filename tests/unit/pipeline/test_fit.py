"""End to end through the Python API on a tiny random model: fit, run folder, load, predict."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModel

import headstart
from headstart.config import FitConfig
from headstart.errors import ConfigError
from tests.helpers import read_split, write_csv


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("data")
    return {
        "train": str(write_csv(root / "train.csv", 60, empty_rows=2)),
        "eval": str(write_csv(root / "eval.csv", 20)),
        "test": str(write_csv(root / "test.csv", 20)),
    }


@pytest.mark.parametrize("strategy", ["full", "partial", "head"])
@pytest.mark.parametrize("cache", [True, False])
def test_fit_writes_a_complete_run_folder(strategy, cache, tiny_model, data, tmp_path) -> None:
    out = tmp_path / "run"
    result = headstart.fit(
        data=data["train"], eval_data=data["eval"], test_data=data["test"], model=tiny_model,
        strategy=strategy, epochs=2, batch_size=8, max_length=32, output=str(out), quiet=True,
        cache=cache, cache_dir=str(tmp_path / "cache"), lr=1e-3, head_lr=1e-2,
    )  # fmt: skip
    assert result.run_dir == out
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("eval", "test"):
        assert set(metrics[split]) >= {"accuracy", "macro_f1", "per_class"}
        assert set(metrics[split]["per_class"]) == {"neg", "pos"}
    assert metrics["strategy"] == strategy and metrics["model"] == tiny_model
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    assert len(metrics["history"]) == 2 and metrics["train_seconds"] > 0
    assert metrics["skipped_rows"] == {"train": 2, "eval": 0, "test": 0}
    # the config reproduces the run; the encoder loads with plain transformers
    config = FitConfig.load(out / "config.json")
    assert config.strategy == strategy and config.data == data["train"]
    encoder = AutoModel.from_pretrained(out / "model")
    assert encoder.config.id2label == {0: "neg", 1: "pos"}
    assert "Confusion matrix" in (out / "report.md").read_text()
    # the saved model predicts what was evaluated
    predictor = headstart.load(out, precision="fp32")
    rows = predictor.predict(["a great and good day", "an awful and bad day"])
    assert [set(r) for r in rows] == [{"text", "label", "score", "scores"}] * 2
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-4 for r in rows)
    evaluated = predictor.evaluate(*read_split(data["test"]))
    assert evaluated["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=0.051)


def test_the_same_seed_gives_the_same_run(tiny_model, data, tmp_path) -> None:
    def run(name: str, seed: int) -> dict:
        result = headstart.fit(
            data=data["train"], model=tiny_model, strategy="full", epochs=1, batch_size=8,
            max_length=32, output=str(tmp_path / name), quiet=True, seed=seed, precision="fp32",
        )  # fmt: skip
        return result.metrics["history"][0]

    a, b, c = run("a", 1), run("b", 1), run("c", 2)
    assert a["train_loss"] == b["train_loss"]
    assert a["train_loss"] != c["train_loss"]


def test_an_existing_output_is_refused_before_any_work(tiny_model, data, tmp_path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--overwrite"):
        headstart.fit(data=data["train"], model=tiny_model, output=str(out), quiet=True)
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failed_run_leaves_no_folder(tiny_model, data, tmp_path, monkeypatch) -> None:
    from headstart.models.classifier import TextClassifier

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(TextClassifier, "save", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        headstart.fit(data=data["train"], model=tiny_model, epochs=1, output=str(out), quiet=True)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]
