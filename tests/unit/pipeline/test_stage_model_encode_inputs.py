"""Stages 4-6 alone: build model and plan, encode, inputs and caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from headstart.engine.training import FeatureInputs, PrefixInputs, TokenInputs
from headstart.errors import ConfigError
from headstart.pipeline.data import read_splits
from headstart.pipeline.encode import encode_data
from headstart.pipeline.inputs import prepare_inputs
from headstart.pipeline.model import build_model, strategy_options
from headstart.pipeline.source import resolve_model
from headstart.pipeline.task import build_task
from headstart.tasks import TokenTargets
from tests.tiny_models import LAYERS, save_tiny
from tests.unit.pipeline.stage_helpers import Captured, config, write_csv, write_ner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny("bert", tmp_path_factory.mktemp("tiny-bert")))


def _through_model(cfg):
    reporter = Captured()
    resolved = resolve_model(cfg)
    splits = read_splits(cfg)
    task = build_task(splits, cfg, Captured())
    return resolved, splits, task, build_model(cfg, resolved, task, reporter), reporter


def test_build_model_applies_the_strategy_and_its_defaults(tiny: str, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "train.csv", 20)
    cfg = config(tiny, data, tmp_path, strategy="head", lr=None, head_lr=None, epochs=None)
    resolved, _, task, built, reporter = _through_model(cfg)
    strategy = resolved.strategy
    assert (built.lr, built.head_lr, built.epochs) == (
        strategy.lr,
        strategy.head_lr,
        strategy.epochs,
    )
    assert built.plan.encoder_frozen and built.plan.num_layers == LAYERS
    assert 0 < built.trainable < built.total and built.model.head.out_features == task.num_outputs
    line = reporter.lines()[0]
    assert line.startswith(f"model: {tiny} (BertModel, {LAYERS} layers); strategy head: ")
    assert strategy_options(cfg).lora_rank == cfg.lora_rank


def test_encode_data_gives_ids_and_targets_of_every_split(tiny: str, tmp_path: Path) -> None:
    cfg = config(
        tiny,
        write_csv(tmp_path / "train.csv", 20),
        tmp_path,
        test_data=write_csv(tmp_path / "test.csv", 6),
    )
    resolved, splits, task, _, _ = _through_model(cfg)
    reporter = Captured()
    encoding = encode_data(cfg, splits, task, resolved.tokenizer, False, reporter)
    assert set(encoding.encoded) == set(encoding.targets) == {"train", "eval", "test"}
    assert len(encoding.encoded["test"]) == 6 and encoding.targets["test"].tolist()[:2] == [1, 0]
    assert encoding.markers is None and encoding.median_tokens > 0 and reporter.lines() == []
    with pytest.raises(ConfigError, match="--case-markers is for token classification"):
        encode_data(
            cfg.__class__(**{**cfg.__dict__, "case_markers": True}),
            splits,
            task,
            resolved.tokenizer,
            False,
            reporter,
        )


def test_encode_data_windows_long_sentences_with_case_markers(tiny: str, tmp_path: Path) -> None:
    path = tmp_path / "long.conll"
    long = "\n".join(f"Word{i} O" for i in range(40))
    path.write_text(long + "\n\n" + Path(write_ner(tmp_path / "n.conll", 12)).read_text())
    dev = write_ner(tmp_path / "dev.conll", 4)
    cfg = config(tiny, str(path), tmp_path, max_length=16, strategy="full", eval_data=dev)
    resolved, splits, task, _, _ = _through_model(cfg)
    reporter = Captured()
    encoding = encode_data(cfg, splits, task, resolved.tokenizer, False, reporter)
    assert isinstance(encoding.targets["train"], TokenTargets)
    assert encoding.markers is not None  # the minilm tokenizer lower-cases
    windows, sentences = len(encoding.encoded["train"]), len(splits.train)
    assert windows > sentences
    assert reporter.lines() == [
        "case markers: a marker token before capitalised and all-capitals words (the tokenizer "
        "lower-cases them); --no-case-markers turns this off",
        f"windows: {windows - sentences} train sentences longer than --max-length 16 tokens are "
        f"split into overlapping windows ({windows} windows)",
    ]
    frozen = encode_data(cfg, splits, task, resolved.tokenizer, True, Captured())
    assert frozen.markers is None  # a frozen encoder never learns what they mean


@pytest.mark.parametrize(
    ("strategy", "kind", "note"),
    [
        ("full", TokenInputs, None),
        ("head", FeatureInputs, "frozen encoder: pooled features cached (0 reused, 2 computed)"),
        ("partial", PrefixInputs, "frozen layers 0-1: hidden states cached in bf16"),
    ],
)
def test_prepare_inputs_caches_what_is_frozen(tiny, tmp_path, strategy, kind, note) -> None:
    cfg = config(tiny, write_csv(tmp_path / "train.csv", 20), tmp_path, strategy=strategy)
    resolved, splits, task, built, _ = _through_model(cfg)
    encoding = encode_data(
        cfg, splits, task, resolved.tokenizer, built.plan.encoder_frozen, Captured()
    )
    reporter = Captured()
    prepared = prepare_inputs(cfg, resolved, built, task, encoding, reporter)
    assert isinstance(prepared.inputs, kind) and prepared.cache_seconds >= 0
    if note is None:
        assert reporter.lines() == []
    else:
        [line] = reporter.lines()
        assert line.startswith(note) and line.endswith(" s)")
