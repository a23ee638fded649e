"""Strategies and layer discovery on tiny random encoders of five families."""

from __future__ import annotations

import pytest
import torch

from headstart.errors import ConfigError
from headstart.models.classifier import TextClassifier
from headstart.models.layers import discover, parameter_groups
from headstart.strategies import STRATEGIES, count_parameters
from tests.tiny_models import FAMILIES, LAYERS, tiny_encoder

NUM_LABELS = 3


def build(family: str, pooling: str = "mean") -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(tiny_encoder(family), NUM_LABELS, pooling)


def group_sizes(model: TextClassifier) -> dict[str, int]:
    return {name: sum(p.numel() for p in ps) for name, ps in parameter_groups(model.encoder)}


@pytest.mark.parametrize("family", FAMILIES)
def test_layer_discovery_finds_every_layer_and_the_embeddings(family: str) -> None:
    model = build(family)
    parts = discover(model.encoder)
    assert parts.num_layers == LAYERS
    assert any(
        p is model.encoder.get_input_embeddings().weight for p in parts.embeddings.parameters()
    )
    groups = parameter_groups(model.encoder)
    assert [g[0] for g in groups] == [
        "embeddings",
        *[f"layer.{i}" for i in range(LAYERS)],
        "pooler",
    ]
    # every encoder parameter lands in exactly one group
    grouped = [id(p) for _, ps in groups for p in ps]
    assert sorted(grouped) == sorted(id(p) for p in model.encoder.parameters())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("strategy", ["full", "partial", "head"])
def test_trainable_counts(family: str, strategy: str) -> None:
    model = build(family)
    sizes = group_sizes(model)
    head = NUM_LABELS * 32 + NUM_LABELS
    plan = STRATEGIES[strategy].apply(model, None, 1e-4, 1e-3)
    trainable, total = count_parameters(model)
    assert total == sum(sizes.values()) + head
    layers = [sizes[f"layer.{i}"] for i in range(LAYERS)]
    expected = {
        # mean pooling: the unused pooler is not counted as trainable
        "full": sizes["embeddings"] + sum(layers) + head,
        "partial": sum(layers[LAYERS // 2 :]) + head,  # default: half the layers frozen
        "head": head,
    }[strategy]
    assert trainable == expected
    assert plan.num_layers == LAYERS
    # the optimizer sees exactly the trainable parameters
    in_groups = {id(p) for g in plan.optimizer_groups for p in g["params"]}
    assert in_groups == {id(p) for p in model.parameters() if p.requires_grad}


def test_partial_freeze_layers_option_and_bounds() -> None:
    model = build("bert")
    plan = STRATEGIES["partial"].apply(model, 3, 1e-4, 1e-3)
    assert plan.frozen_layers == 3
    parts = discover(model.encoder)
    assert not any(p.requires_grad for p in parts.layers[2].parameters())
    assert all(p.requires_grad for p in parts.layers[3].parameters())
    assert not any(p.requires_grad for p in parts.embeddings.parameters())
    for bad in (0, LAYERS):
        with pytest.raises(ConfigError, match="--freeze-layers"):
            STRATEGIES["partial"].apply(build("bert"), bad, 1e-4, 1e-3)


def test_pooler_trains_only_when_used() -> None:
    model = build("bert", pooling="pooler")
    STRATEGIES["full"].apply(model, None, 1e-4, 1e-3)
    assert all(p.requires_grad for p in model.encoder.pooler.parameters())
    model = build("bert", pooling="mean")
    STRATEGIES["full"].apply(model, None, 1e-4, 1e-3)
    assert not any(p.requires_grad for p in model.encoder.pooler.parameters())


def test_pooler_pooling_needs_a_pooler() -> None:
    from headstart.errors import ModelError

    with pytest.raises(ModelError, match="no pooler"):
        TextClassifier(tiny_encoder("distilbert"), 2, "pooler")


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
def test_forward_shapes_and_mean_pooling_ignores_padding(pooling: str) -> None:
    model = build("bert", pooling).eval()
    ids = torch.tensor([[101, 2000, 2001, 102], [101, 2000, 2001, 102]])
    mask = torch.ones_like(ids)
    padded_ids = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask)
        b = model(input_ids=padded_ids, attention_mask=padded_mask)
    assert a.shape == (2, NUM_LABELS)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_head_initialisation_follows_the_seed() -> None:
    encoder = tiny_encoder("bert")
    torch.manual_seed(7)
    a = TextClassifier(encoder, 2).head.weight.clone()
    torch.manual_seed(7)
    b = TextClassifier(encoder, 2).head.weight.clone()
    torch.manual_seed(8)
    c = TextClassifier(encoder, 2).head.weight.clone()
    assert torch.equal(a, b) and not torch.equal(a, c)
