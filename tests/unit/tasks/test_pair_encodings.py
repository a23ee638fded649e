"""Pair encodings are objects: ``cross`` and ``bi`` say what the model, the caches, the export
and the model card need, and the run-folder format stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from headstart.config.names import PAIR_ENCODINGS
from headstart.data.batching import PAIR_PREFIX, collate, encode
from headstart.errors import ModelError
from headstart.models.classifier import TextClassifier
from headstart.tasks.pairs import (
    PAIR_ENCODING_TYPES,
    BiEncoding,
    CrossEncoding,
    pair_encoding,
)
from tests.tiny_models import tiny_encoder


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from headstart.models.source import packaged_minilm_dir

    return AutoTokenizer.from_pretrained(packaged_minilm_dir())


def test_the_registry_holds_the_names_settings_are_checked_against() -> None:
    assert tuple(PAIR_ENCODING_TYPES) == PAIR_ENCODINGS
    assert isinstance(pair_encoding("cross"), CrossEncoding)
    assert isinstance(pair_encoding("bi"), BiEncoding)
    with pytest.raises(ModelError, match="must be cross or bi, got 'both'"):
        pair_encoding("both")


def test_what_each_encoding_says() -> None:
    cross, bi = pair_encoding("cross"), pair_encoding("bi")
    assert (cross.apart, cross.width, cross.cache_tag, cross.meta()) == (False, 1, "", {})
    assert (bi.apart, bi.width, bi.cache_tag) == (True, 2, "+bi")
    assert bi.meta() == {"pair_encoding": "bi"}
    names = ["input_ids", "attention_mask"]
    assert cross.graph_inputs(names) == names
    assert bi.graph_inputs(names) == [*names, PAIR_PREFIX + "input_ids", "pair_attention_mask"]
    assert cross.card_lines() == []
    assert "--pair-encoding bi" in bi.card_lines()[0]
    cross.check_pooling("tokens")
    with pytest.raises(ModelError, match="no token task"):
        bi.check_pooling("tokens")


def test_bi_features_compare_the_two_normalised_vectors() -> None:
    def pooled(**inputs: torch.Tensor) -> torch.Tensor:
        return inputs["input_ids"].float()  # the "vector" of a text is its ids

    inputs = {
        "input_ids": torch.tensor([[3.0, 4.0], [1.0, 0.0]]),
        PAIR_PREFIX + "input_ids": torch.tensor([[3.0, 4.0], [0.0, 2.0]]),
    }
    features = pair_encoding("bi").features(pooled, inputs)
    assert features.shape == (2, 4)
    assert torch.allclose(pair_encoding("bi").cosines(features), torch.tensor([1.0, 0.0]))
    assert torch.allclose(features[1, 2:], torch.tensor([1.0, 1.0]))  # |u - v|
    assert torch.equal(pair_encoding("cross").features(pooled, inputs), inputs["input_ids"])
    with pytest.raises(ModelError, match="give each text its pair"):
        pair_encoding("bi").features(pooled, {"input_ids": inputs["input_ids"]})
    with pytest.raises(ModelError, match="no cosine"):
        pair_encoding("cross").cosines(features)


def test_start_head_sets_the_cosine_block_only() -> None:
    head = nn.Linear(6, 2)
    pair_encoding("bi").start_head(head, np.array([1.5, -1.5]), np.array([0.25, -0.25]))
    assert torch.equal(head.weight[:, :3], torch.tensor([[1.5] * 3, [-1.5] * 3]))
    assert torch.equal(head.weight[:, 3:], torch.zeros(2, 3))
    assert torch.equal(head.bias, torch.tensor([0.25, -0.25]))


@pytest.mark.parametrize("name", PAIR_ENCODINGS)
def test_the_model_folder_records_bi_only(name: str, tmp_path: Path, tokenizer) -> None:
    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder("bert"), 2, pair_encoding=name).eval()
    assert model.pair_encoding == name and model.pairing is pair_encoding(name)
    assert model.hidden_size == 32 * model.pairing.width
    model.save(tmp_path, tokenizer, {"task": "classification", "labels": ["a", "b"]})
    info = json.loads((tmp_path / "headstart.json").read_text())
    assert info.get("pair_encoding") == ("bi" if name == "bi" else None)
    assert list(info)[:3] == ["format", "pooling", "outputs"]
    loaded, _ = TextClassifier.load(tmp_path)
    assert loaded.pairing is model.pairing
    pairs = ["the cat", "rain"]
    encoded = encode(tokenizer, ["a cat", "a dog"], 16, pairs, apart=model.pairing.apart)
    batch = collate(encoded, [0, 1])
    with torch.inference_mode():
        assert torch.allclose(loaded(**batch), model(**batch), atol=1e-6)


def test_a_token_model_cannot_compare_two_texts() -> None:
    with pytest.raises(ModelError, match="no token task"):
        TextClassifier(tiny_encoder("bert"), 3, "tokens", pair_encoding="bi")
    with pytest.raises(ModelError, match="must be cross or bi"):
        TextClassifier(tiny_encoder("bert"), 3, pair_encoding="twice")
