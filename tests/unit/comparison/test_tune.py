"""``headstart tune`` on a tiny model and a small slice of Financial PhraseBank: a real Optuna
study in SQLite, whose best.yaml loads as a FitConfig and reproduces the best trial's score
through ``fit``; a second invocation adds to the same study."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

import headstart
from headstart.comparison import tuning
from headstart.config import FitConfig
from headstart.errors import ConfigError
from tests.helpers import SHARED_DATA, head_rows
from tests.tiny_models import save_tiny

PHRASEBANK = SHARED_DATA / "financial_phrasebank"
pytestmark = pytest.mark.skipif(not PHRASEBANK.exists(), reason="../shared/data is not here")


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FitConfig:
    # fewer head epochs than the real range: this checks the machinery, not the search
    monkeypatch.setitem(tuning.EPOCHS, "head", (2, 4))
    monkeypatch.setitem(tuning.EPOCHS, "partial", (1, 2))
    return FitConfig(
        data=head_rows(PHRASEBANK / "allagree_train.csv", tmp_path / "train.csv", 120),
        eval_data=head_rows(PHRASEBANK / "allagree_dev.csv", tmp_path / "dev.csv", 60),
        model=str(save_tiny("bert", tmp_path / "tiny-bert")),
        max_length=40,
        cache_dir=str(tmp_path / "cache"),
    )


def test_best_recipe_reproduces_and_a_second_run_joins_the_study(base, tmp_path) -> None:
    out = tmp_path / "tune"
    settings = tuning.TuneSettings(trials=3, output=str(out), sampler_seed=0)
    first = tuning.tune(base, settings)
    assert first.storage == f"sqlite:///{out / 'tune.db'}" and len(first.rows) == 3
    assert {r["strategy"] for r in first.rows} <= {"head", "partial"}

    recipe = yaml.safe_load((out / "best.yaml").read_text())
    config = FitConfig.from_dict(recipe)
    assert config == first.best and config.data == base.data and config.model == base.model
    assert "output" not in recipe and "quiet" not in recipe
    config.output, config.quiet = str(tmp_path / "run"), True
    result = headstart.fit(config)
    assert result.metrics["eval"]["accuracy"] == pytest.approx(first.best_score, abs=1e-9)

    second = tuning.tune(base, tuning.TuneSettings(trials=1, output=str(out)))
    assert second.study_name == first.study_name and len(second.rows) == 4
    assert second.best_score >= first.best_score
    with (out / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["trial"]) for r in rows] == [0, 1, 2, 3]
    assert all(r["state"] in ("complete", "pruned") and float(r["seconds"]) > 0 for r in rows)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial files


def test_suggestions_follow_the_strategy() -> None:
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = tuning.suggest(trial, ("head", "partial", "lora"), layers=6)
        study.tell(trial, 0.5)
        seen.add(values["strategy"])
        config = FitConfig(data="x.csv", **values)  # every suggestion is a valid config
        assert ("freeze_layers" in values) == (config.strategy == "partial")
        assert ("lr" in values) == (config.strategy != "head")
        if config.strategy == "partial":
            assert 4 <= values["freeze_layers"] <= 5
        if config.strategy == "lora":
            assert values["lora_rank"] in tuning.LORA_RANKS
    assert seen == {"head", "partial", "lora"}


def test_bad_settings_fail_before_any_study(base, tmp_path) -> None:
    out = tmp_path / "tune"
    with pytest.raises(ConfigError, match="unknown strategy 'ful'"):
        tuning.tune(base, tuning.TuneSettings(strategies=("head", "ful"), output=str(out)))
    with pytest.raises(ConfigError, match="--trials must be positive"):
        tuning.tune(base, tuning.TuneSettings(trials=0, output=str(out)))
    assert not out.exists()
