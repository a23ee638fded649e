"""lora, bitfit, gradual and --layer-lr-decay on tiny random encoders; training controls
(early stopping, class weights, calibration) through the API."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import headstart
from headstart.config import FitConfig, parse_unfreeze_every
from headstart.errors import ConfigError
from headstart.models.classifier import TextClassifier
from headstart.models.layers import discover, parameter_groups
from headstart.strategies import STRATEGIES, StrategyOptions, count_parameters
from headstart.strategies.lora import attention_targets, find_targets, merge_adapters
from headstart.tasks.calibration import calibrate, expected_calibration_error, fit_temperature
from headstart.tasks.imbalance import balanced_weights
from tests.helpers import read_split, write_csv
from tests.tiny_models import FAMILIES, LAYERS, save_tiny, tiny_encoder

NUM_LABELS = 3
HIDDEN = 32
HEAD = NUM_LABELS * HIDDEN + NUM_LABELS


def build(family: str, pooling: str = "mean") -> TextClassifier:
    torch.manual_seed(0)
    return TextClassifier(tiny_encoder(family), NUM_LABELS, pooling)


EXPECTED_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_targets_are_found_by_structure_and_counted(family: str) -> None:
    model = build(family)
    assert attention_targets(model.encoder) == EXPECTED_TARGETS[family]
    layers = discover(model.encoder).layers
    linear = [m for m in layers.modules() if isinstance(m, torch.nn.Linear)]
    assert set(find_targets(model.encoder)) == {
        n.rsplit(".", 1)[-1] for n, m in layers.named_modules() if isinstance(m, torch.nn.Linear)
    }
    _, total_before = count_parameters(model)
    plan = STRATEGIES["lora"].apply(model, None, 1e-3, 1e-3, StrategyOptions(lora_rank=4))
    trainable, total = count_parameters(model)
    # by default every linear layer of every block: A (r x in) + B (out x r) each
    assert trainable == sum(4 * (m.in_features + m.out_features) for m in linear) + HEAD
    assert total == total_before + trainable - HEAD
    assert {id(p) for g in plan.optimizer_groups for p in g["params"]} == {
        id(p) for p in model.parameters() if p.requires_grad
    }
    merge_adapters(model)
    assert count_parameters(model)[1] == total_before  # merged: the original shapes again
    assert "lora" not in " ".join(n for n, _ in model.named_parameters())
    # only query and value: two square projections per layer
    model = build(family)
    targets = tuple(EXPECTED_TARGETS[family])
    STRATEGIES["lora"].apply(
        model, None, 1e-3, 1e-3, StrategyOptions(lora_rank=4, lora_targets=targets)
    )
    assert count_parameters(model)[0] == LAYERS * 2 * 4 * (HIDDEN + HIDDEN) + HEAD


def test_lora_targets_option_and_a_wrong_name() -> None:
    model = build("bert")
    options = StrategyOptions(lora_rank=2, lora_targets=("query", "key", "value", "dense"))
    STRATEGIES["lora"].apply(model, None, 1e-3, 1e-3, options)
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters()
               if "lora_A" in n}  # fmt: skip
    assert adapted == {"query", "key", "value", "dense"}
    with pytest.raises(ConfigError, match=r"no module named nope.*query"):
        STRATEGIES["lora"].apply(
            build("bert"), None, 1e-3, 1e-3, StrategyOptions(lora_targets=("nope",))
        )


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_bitfit_trains_only_biases_and_the_head(family: str) -> None:
    model = build(family)
    STRATEGIES["bitfit"].apply(model, None, 1e-3, 1e-3)
    pooler = getattr(model.encoder, "pooler", None)
    unused = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    biases = sum(
        p.numel()
        for n, p in model.encoder.named_parameters()
        if n.endswith("bias") and id(p) not in unused
    )
    trainable, _ = count_parameters(model)
    assert trainable == biases + HEAD
    assert all(n.endswith("bias") for n, p in model.encoder.named_parameters() if p.requires_grad)


def test_gradual_counts_everything_and_unfreezes_from_the_top() -> None:
    model = build("bert")
    plan = STRATEGIES["gradual"].apply(model, None, 1e-4, 1e-3)
    sizes = {name: sum(p.numel() for p in ps) for name, ps in parameter_groups(model.encoder)}
    trainable, _ = count_parameters(model)
    assert trainable == sum(sizes.values()) - sizes["pooler"] + HEAD  # what full trains
    assert plan.stages == list(range(LAYERS, -1, -1))


def test_layer_lr_decay_gives_each_layer_its_rate() -> None:
    model = build("bert")
    plan = STRATEGIES["full"].apply(model, None, 1.0, 0.5, StrategyOptions(layer_lr_decay=0.5))
    rates = {g["name"]: g["lr"] for g in plan.optimizer_groups}
    assert rates["head"] == 0.5 and rates[f"layer.{LAYERS - 1}"] == 1.0
    assert rates["layer.0"] == 0.5 ** (LAYERS - 1) and rates["embeddings"] == 0.5**LAYERS
    plan = STRATEGIES["partial"].apply(model, 2, 1.0, 0.5, StrategyOptions(layer_lr_decay=0.5))
    assert {g["name"] for g in plan.optimizer_groups} == {"layer.2", "layer.3", "head"}
    with pytest.raises(ConfigError, match="--layer-lr-decay"):
        STRATEGIES["lora"].apply(build("bert"), None, 1.0, 1.0, StrategyOptions(layer_lr_decay=0.9))


def test_new_options_are_checked() -> None:
    cases = [
        ({"strategy": "head", "layer_lr_decay": 0.8}, "--layer-lr-decay works with"),
        ({"layer_lr_decay": 1.5}, "--layer-lr-decay must be in"),
        ({"unfreeze_every": "soon"}, "--unfreeze-every"),
        ({"unfreeze_every": "1.5steps"}, "--unfreeze-every"),
        ({"patience": 0}, "--patience must be positive"),
        ({"class_weights": "balanced"}, "--class-weights"),
        ({"lora_rank": 0}, "--lora-rank"),
        ({"lora_targets": " , "}, "--lora-targets"),
        ({"train_size": -3}, "--train-size"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigError, match=message):
            FitConfig(data="x.csv", **options)
    assert parse_unfreeze_every("2") == (2.0, "epochs")
    assert parse_unfreeze_every("0.5epochs") == (0.5, "epochs")
    assert parse_unfreeze_every("40steps") == (40.0, "steps")


# -- calibration and class weights, without training ------------------------------------------
def test_temperature_scaling_recovers_the_scale_and_lowers_ece() -> None:
    torch.manual_seed(0)
    y = torch.randint(0, 3, (600,))
    logits = torch.randn(600, 3)
    logits[torch.arange(600), y] += 2.0
    t1 = fit_temperature(logits, y)
    assert fit_temperature(logits * 4, y) == pytest.approx(4 * t1, rel=1e-3)
    overconfident = logits * 4
    result = calibrate(overconfident, y, (overconfident, y))
    assert result["temperature"] > 1
    assert result["eval_ece_after"] < result["eval_ece_before"] / 2
    assert result["eval_ece_after"] == pytest.approx(
        expected_calibration_error(overconfident / result["temperature"], y), abs=1e-4
    )


def test_balanced_weights() -> None:
    weights = balanced_weights(torch.tensor([0, 0, 0, 1, -100]), 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


# -- through fit ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("new-strategies")
    return {
        "model": str(save_tiny("bert", root / "tiny-bert")),
        "train": str(write_csv(root / "train.csv", 48)),
        "eval": str(write_csv(root / "eval.csv", 16)),
        "test": str(write_csv(root / "test.csv", 16)),
        "cache": str(root / "cache"),
    }


def _fit(tiny: dict[str, str], out, **options):
    settings = dict(
        data=tiny["train"], eval_data=tiny["eval"], test_data=tiny["test"], model=tiny["model"],
        epochs=2, batch_size=8, max_length=32, output=str(out), quiet=True,
        cache_dir=tiny["cache"],
    ) | options  # fmt: skip
    return headstart.fit(**settings)


def test_lora_saves_merged_weights_that_reload_without_peft(tiny, tmp_path) -> None:
    result = _fit(tiny, tmp_path / "lora", strategy="lora", lr=5e-3, lora_rank=4,
                  lora_targets="query,value")  # fmt: skip
    m = result.metrics
    assert m["lora"] == {"rank": 4, "alpha": 8}
    assert m["trainable_params"] == LAYERS * 2 * (4 * HIDDEN + HIDDEN * 4) + 2 * HIDDEN + 2
    weights = load_file(str(tmp_path / "lora" / "model" / "model.safetensors"))
    assert not any("lora" in k or "base_layer" in k for k in weights)
    # the adapters did change the weights that were merged
    base = TextClassifier.load(tmp_path / "lora" / "model")[0]
    original = tiny_encoder("bert")
    assert base.encoder.config.model_type == "bert"
    assert not torch.equal(
        base.encoder.encoder.layer[0].attention.self.query.weight,
        original.encoder.layer[0].attention.self.query.weight,
    )
    # what was evaluated after merging is what the reloaded model predicts
    predictor = headstart.load(result.run_dir, precision="fp32")
    assert predictor.evaluate(*read_split(tiny["test"]))["accuracy"] == m["test"]["accuracy"]


def test_gradual_unfreezes_one_layer_per_stage(tiny, tmp_path) -> None:
    result = _fit(tiny, tmp_path / "g", strategy="gradual", unfreeze_every="3steps",
                  layer_lr_decay=0.8)  # fmt: skip
    # 6 steps per epoch (48 rows, batch 8): a stage every 3 steps, recorded at each epoch's end
    frozen = [h["frozen_layers"] for h in result.metrics["history"]]
    assert frozen == [LAYERS - 1, LAYERS - 3]
    assert result.metrics["unfreeze_every_steps"] == 3


def test_early_stopping_and_calibration_and_class_weights(tiny, tmp_path) -> None:
    # a head that cannot learn: the eval score never improves after the first epoch
    result = _fit(tiny, tmp_path / "stop", strategy="head", epochs=8, head_lr=1e-12, patience=2,
                  class_weights="auto")  # fmt: skip
    m = result.metrics
    assert m["epochs_run"] == 3 and m["stopped_early"] and m["best_epoch"] == 1
    assert m["class_weights"] == [1.0, 1.0]  # balanced data
    c = m["calibration"]
    assert set(c) >= {"temperature", "eval_ece_before", "eval_ece_after", "test_ece_before"}
    assert c["eval_ece_after"] <= c["eval_ece_before"] + 1e-4
    meta = json.loads((tmp_path / "stop" / "model" / "headstart.json").read_text())
    assert meta["temperature"] == c["temperature"]
    # predictions carry the calibrated scores
    predictor = headstart.load(result.run_dir, precision="fp32")
    raw = predictor.logits(["a great day"])[0]
    row = predictor.predict(["a great day"])[0]
    expected = (raw / c["temperature"]).softmax(-1).max().item()
    assert row["score"] == pytest.approx(expected, abs=1e-5)
