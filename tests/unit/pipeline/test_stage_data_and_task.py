"""Stages 1-3 alone: resolve model, read data, build task."""

from __future__ import annotations

from pathlib import Path

import pytest

from headstart.data.labelled import LABEL_RULES
from headstart.errors import ConfigError, ModelError
from headstart.pipeline.data import (
    bi_encoder,
    read_data,
    read_splits,
    splits_by_name,
    subsample_train,
    swap_pairs,
)
from headstart.pipeline.source import resolve_model, takes_words
from headstart.pipeline.task import build_task
from headstart.tasks import ClassificationTask, MultiLabelTask, RegressionTask, TokenTask
from tests.helpers import write_rows
from tests.tiny_models import save_tiny
from tests.unit.pipeline.stage_helpers import (
    Captured,
    config,
    write_csv,
    write_multilabel,
    write_ner,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny("bert", tmp_path_factory.mktemp("tiny-bert")))


def test_resolve_model_gives_strategy_device_and_tokenizer(tiny: str, tmp_path: Path) -> None:
    resolved = resolve_model(config(tiny, "unused.csv", tmp_path, strategy="head"))
    assert resolved.strategy.name == "head" and resolved.device in ("cpu", "cuda")
    assert resolved.cache_precision == "fp32" and not resolved.scratch
    assert resolved.tokenizer("a good day")["input_ids"]
    assert resolve_model(config("scratch:" + tiny, "unused.csv", tmp_path)).scratch


def test_resolve_model_fails_on_a_bad_model_before_reading_data(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        resolve_model(config(str(tmp_path / "nothing-here.txt"), "missing.csv", tmp_path))


def test_the_tokenizer_takes_words_for_token_tasks_and_tagged_data(tmp_path: Path) -> None:
    csv_file = write_csv(tmp_path / "t.csv", 4)
    conll = write_ner(tmp_path / "t.conll", 4)
    assert takes_words(config("minilm", csv_file, tmp_path, task="tokens"))
    assert not takes_words(config("minilm", conll, tmp_path, task="classification"))
    assert takes_words(config("minilm", conll, tmp_path))
    assert not takes_words(config("minilm", csv_file, tmp_path))


def test_read_data_warns_of_skipped_rows_through_the_reporter(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "train.csv", 30, empty_rows=2)
    reporter = Captured()
    splits = read_data(config("minilm", data, tmp_path), reporter)
    assert splits.skipped["train"] == 2
    [line] = reporter.lines()
    assert line.startswith("warning: skipped 2 train rows with empty text or label (")
    assert line.endswith("); --strict refuses them instead")


def test_read_splits_subsamples_and_swaps(tmp_path: Path) -> None:
    rows = [[f"first {i}", f"second {i}", "same" if i % 2 else "other"] for i in range(40)]
    data = write_rows(tmp_path / "pairs.csv", ["text", "text2", "label"], rows)
    plain = read_splits(config("minilm", data, tmp_path, text_pair_column="text2"))
    swapped = read_splits(
        config("minilm", data, tmp_path, text_pair_column="text2", pair_swap=True, train_size=10)
    )
    assert len(swapped.train) == 20 and swapped.train.texts[10:] == swapped.train.pairs[:10]
    assert set(splits_by_name(plain)) == {"train", "eval"}
    with pytest.raises(ConfigError, match="--pair-encoding bi needs sentence pairs"):
        read_splits(
            config("minilm", write_csv(tmp_path / "t.csv", 20), tmp_path, pair_encoding="bi")
        )


def test_subsample_and_swap_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    splits = read_splits(config("minilm", write_csv(tmp_path / "t.csv", 40), tmp_path))
    with pytest.raises(ConfigError, match="smaller than the number of classes"):
        subsample_train(splits, 1, seed=0)
    subsample_train(splits, 10, seed=0)
    assert len(splits.train) == 10 and sorted(set(splits.train.labels)) == ["neg", "pos"]
    with pytest.raises(ConfigError, match="--pair-swap needs sentence pairs"):
        swap_pairs(splits.train)


def test_bi_encoder_reads_the_pair_encoding(tmp_path: Path) -> None:
    assert bi_encoder(config("minilm", "x.csv", tmp_path, pair_encoding="bi"))
    assert not bi_encoder(config("minilm", "x.csv", tmp_path))


def test_build_task_makes_each_task_and_says_so(tmp_path: Path) -> None:
    cases = {
        "classification": (write_csv(tmp_path / "c.csv", 20), {}),
        "multilabel": (write_multilabel(tmp_path / "m.jsonl", 30), {"threshold": 0.3}),
        "regression": (
            write_rows(
                tmp_path / "r.csv",
                ["text", "label"],
                [[f"s {i}", 1.5 * (i % 4)] for i in range(20)],
            ),
            {"task": "regression"},
        ),
        "tokens": (write_ner(tmp_path / "n.conll", 20), {}),
    }
    built = {}
    for name, (data, options) in cases.items():
        reporter = Captured()
        cfg = config("minilm", data, tmp_path, **options)
        built[name] = (build_task(read_splits(cfg), cfg, reporter), reporter.lines())
    task, [line] = built["classification"]
    assert isinstance(task, ClassificationTask)
    assert line.endswith(
        "; task classification, 2 classes: neg, pos (detected from the data; --task overrides)"
    )
    task, [line] = built["multilabel"]
    assert isinstance(task, MultiLabelTask) and task.threshold == 0.3
    assert "; task multi-label, 3 labels: money, politics, sport" in line
    task, [line] = built["regression"]
    assert isinstance(task, RegressionTask)
    assert line.endswith("; task regression, training targets 0 to 4.5")
    task, [line] = built["tokens"]
    assert isinstance(task, TokenTask)
    assert " sentences; task tokens, entity tags (BIO) of 2 types: LOC, PER " in line


def test_task_answers_for_the_pipeline_without_a_model() -> None:
    words = TokenTask(["NN", "VB"])
    assert words.description(None) == "tokens, 2 word tags: NN, VB"  # type: ignore[arg-type]
    assert words.example_unit(False) == "sentences" and words.head_pooling("cls") == "tokens"
    assert words.case_markers(None, False, False) is None
    assert TokenTask.takes_words and not ClassificationTask.takes_words
    assert LABEL_RULES["classification"].stratify and not LABEL_RULES["multilabel"].stratify
    many = ClassificationTask([f"c{i}" for i in range(12)])
    assert many.description(None).endswith("c8, c9 …")  # type: ignore[arg-type]
    assert many.example_unit(True) == "sentence pairs" and many.example_unit(False) == ""
    assert many.head_pooling("cls") == "cls"
    with pytest.raises(ConfigError, match="--case-markers is for token classification"):
        RegressionTask(0.0, 1.0).case_markers(None, True, False)
