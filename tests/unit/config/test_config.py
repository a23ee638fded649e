"""FitConfig validates every setting at construction and round-trips through JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from headstart.config import FitConfig
from headstart.errors import ConfigError


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attention_dropout", 1.5, "--attention-dropout must be in [0, 1)"),
        ("dropout", -0.1, "--dropout must be in [0, 1)"),
        ("lr", -1e-4, "--lr must be 0 or more"),
        ("pooling", "max", "unknown pooling 'max'"),
        ("precision", "int8", "unknown precision 'int8'"),
        ("pair_encoding", "siamese", "unknown pair encoding 'siamese'; choose one of: cross, bi"),
        ("eval_fraction", 1.0, "--eval-fraction must be between 0 and 1"),
    ],
)
def test_bad_values_name_the_option(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        FitConfig(data="d.csv", **{field: value})
    assert message in str(info.value)


def test_attention_dropout_none_keeps_the_models_own_and_lr_zero_is_allowed() -> None:
    FitConfig(data="d.csv", attention_dropout=None, lr=0.0)


def test_json_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    config = FitConfig(data="d.csv", strategy="head", text_pair_column="b", task="regression")
    config.save(tmp_path / "config.json")
    assert FitConfig.load(tmp_path / "config.json") == config
    with pytest.raises(ConfigError, match="unknown setting 'epoch'"):
        FitConfig.from_dict({"data": "d.csv", "epoch": 3})
