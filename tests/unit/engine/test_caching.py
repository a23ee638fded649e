"""Frozen-encoder caches: pooled features and frozen-prefix hidden states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from headstart.data.batching import collate, encode
from headstart.engine import caching
from headstart.models.classifier import TextClassifier
from headstart.models.layers import discover
from tests.tiny_models import FAMILIES, tiny_encoder

TEXTS = [
    "Shares fell sharply after the profit warning.",
    "The team won.",
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
    "Nothing to report today, said the spokesman of the company in Helsinki on Monday.",
    "ok",
]


def ctx(
    directory: Path | None, model: TextClassifier, precision: str = "fp32"
) -> caching.CacheContext:
    return caching.CacheContext(
        directory, caching.weights_fingerprint(model.encoder), precision, "cpu", 2
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_prefix_reproduces_the_full_model(family: str, tokenizer) -> None:
    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder(family), 2).eval()
    encoded = encode(tokenizer, TEXTS, 64)
    states = caching.prefix_states(model, encoded, 2, ctx(None, model))
    assert states.flat.shape == (sum(encoded.lengths), 32)
    assert caching.check_suffix_matches(model, encoded, 2, "cpu")
    # the stored states run through the upper layers give the full model's output
    parts = discover(model.encoder)
    with torch.no_grad():
        reference = model.encode(**collate(encoded, [2]))
        hidden, mask = states.batch([2])
        with caching.suffix_only(model.encoder, parts, 2):
            out = model.encode(inputs_embeds=hidden.float(), attention_mask=mask)
    torch.testing.assert_close(out, reference, atol=5e-2, rtol=2e-2)
    # the encoder is whole again afterwards
    assert discover(model.encoder).num_layers == 4


def test_a_wrong_wiring_is_detected(tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder("bert"), 2).eval()
    encoded = encode(tokenizer, TEXTS, 64)
    real = caching.suffix_only

    def off_by_one(encoder, parts, start):  # runs one layer too many
        return real(encoder, parts, start - 1)

    monkeypatch.setattr(caching, "suffix_only", off_by_one)
    assert not caching.check_suffix_matches(model, encoded, 2, "cpu")


def test_pooled_features_match_the_model_in_input_order(tokenizer) -> None:
    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder("bert"), 2).eval()
    encoded = encode(tokenizer, TEXTS, 64)
    features = caching.pooled_features(model, encoded, ctx(None, model))
    with torch.no_grad():
        for i in range(len(TEXTS)):
            one = model.encode(**collate(encoded, [i]))
            torch.testing.assert_close(features[i], one[0], atol=1e-5, rtol=1e-4)


def test_disk_cache_is_reused_and_keyed_by_data_and_length(tokenizer, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TextClassifier(tiny_encoder("bert"), 2)
    first = ctx(tmp_path, model)
    a = caching.pooled_features(model, encode(tokenizer, TEXTS, 64), first)
    assert (first.hits, first.misses) == (0, 1)
    second = ctx(tmp_path, model)
    b = caching.pooled_features(model, encode(tokenizer, TEXTS, 64), second)
    assert (second.hits, second.misses) == (1, 0)
    assert torch.equal(a, b)
    third = ctx(tmp_path, model)
    caching.pooled_features(model, encode(tokenizer, TEXTS, 8), third)  # other max length
    caching.pooled_features(model, encode(tokenizer, TEXTS[:3], 64), third)  # other data
    assert third.misses == 2
    prefix_ctx = ctx(tmp_path, model)
    s1 = caching.prefix_states(model, encode(tokenizer, TEXTS, 64), 2, prefix_ctx)
    s2 = caching.prefix_states(model, encode(tokenizer, TEXTS, 64), 2, prefix_ctx)
    assert (prefix_ctx.misses, prefix_ctx.hits) == (1, 1)
    assert s1.path is not None and s1.flat is None  # on disk, read row by row
    in_memory = caching.prefix_states(model, encode(tokenizer, TEXTS, 64), 2, ctx(None, model))
    for i in range(len(TEXTS)):
        assert np.array_equal(s1.row(i), s2.row(i))
        assert np.array_equal(s1.row(i), in_memory.row(i))
    hidden, mask = s2.batch([0, 4])
    assert hidden.shape[0] == 2 and mask.sum().item() == sum(
        encode(tokenizer, TEXTS, 64).lengths[i] for i in (0, 4)
    )


def test_other_weights_give_another_key() -> None:
    torch.manual_seed(0)
    a = caching.weights_fingerprint(tiny_encoder("bert"))
    torch.manual_seed(1)
    b = caching.weights_fingerprint(tiny_encoder("bert"))
    assert a != b
