"""``headstart tune``: hyperparameter search with Optuna.

Each trial is one in-process ``train_model`` (no run folder), scored on the eval split's main
metric and pruned per epoch by the median of earlier trials. Frozen-encoder outputs come from
the feature cache, so after the first ``head`` trial and the first ``partial`` trial at each
depth, the encoder's frozen part costs nothing. The study lives in an Optuna storage (a SQLite
file by default): a second invocation, or a second worker on any machine sharing the
database, adds trials to the same study. The best trial's settings are written as a recipe
(``best.yaml``) that ``fit --config`` reproduces.
"""

from __future__ import annotations

import csv
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.errors import ConfigError
from headstart.runs.folder import write_text
from headstart.runs.listing import main_metric

# Per-strategy search ranges, sized so 20 trials on a few thousand texts fit in minutes on a
# CPU. Head trials train a linear layer on cached vectors (an epoch is milliseconds), so they
# get the many epochs that layer needs; the others train encoder layers and get few.
EPOCHS = {"head": (10, 50), "partial": (2, 4), "lora": (2, 4)}
LR = {  # (low, high), log scale; head trains no encoder weights
    "full": (1e-5, 1.5e-4), "partial": (3e-5, 3e-4), "gradual": (3e-5, 3e-4),
    "lora": (5e-4, 5e-3), "bitfit": (1e-3, 1e-2),
}  # fmt: skip
HEAD_LR = {"head": (1e-3, 3e-2)}
DEFAULT_HEAD_LR = (3e-4, 3e-3)
BATCH_SIZES = (16, 32, 64)
LORA_RANKS = (4, 8, 16)
# the FitConfig fields a trial sets; best.yaml always names them
TUNED = ("strategy", "epochs", "lr", "head_lr", "batch_size", "freeze_layers", "lora_rank")
# a recipe says nothing about where one run goes or how it prints
NOT_IN_RECIPE = ("output", "overwrite", "quiet", "track", "experiment", "track_dir")


@dataclass
class TuneSettings:
    trials: int = 20
    strategies: tuple[str, ...] = ("head", "partial")
    output: str = "tune"
    storage: str | None = None  # default: sqlite:///OUTPUT/tune.db
    study_name: str | None = None  # default: <data stem>-<model>
    sampler_seed: int | None = None  # None: workers sharing a study propose different trials


@dataclass
class TuneResult:
    output: Path
    study_name: str
    storage: str
    metric: str
    best: FitConfig
    best_score: float
    best_trial: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def optuna_module():
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "headstart tune needs the tune extra: pip install 'headstart[tune]'"
        ) from None
    return optuna


def check_strategies(names: tuple[str, ...]) -> tuple[str, ...]:
    from headstart.strategies import STRATEGIES

    if not names:
        raise ConfigError("--strategies: give at least one, e.g. head,partial")
    for name in names:
        if name not in STRATEGIES:
            raise ConfigError(
                f"--strategies: unknown strategy '{name}'; choose from {', '.join(STRATEGIES)}"
            )
    return names


def layer_count(config: FitConfig) -> int:
    """The source model's transformer layers, from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    from headstart.models.source import resolve

    source = resolve(config.model.removeprefix("scratch:"))
    model_config = AutoConfig.from_pretrained(
        source.location, trust_remote_code=config.trust_remote_code
    )
    for name in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(getattr(model_config, name, None), int):
            return int(getattr(model_config, name))
    raise ConfigError(f"{config.model}: cannot tell its number of layers for --freeze-layers")


def suggest(trial: Any, strategies: tuple[str, ...], layers: int) -> dict[str, Any]:
    """One trial's FitConfig fields. Names are per strategy (``partial.lr``) because the same
    setting has a different sensible range under each strategy."""
    strategy = (
        trial.suggest_categorical("strategy", list(strategies))
        if len(strategies) > 1
        else strategies[0]
    )
    low, high = EPOCHS.get(strategy, (2, 4))
    values: dict[str, Any] = {
        "strategy": strategy,
        "epochs": trial.suggest_int(f"{strategy}.epochs", low, high),
        "batch_size": trial.suggest_categorical(f"{strategy}.batch_size", list(BATCH_SIZES)),
        "head_lr": trial.suggest_float(
            f"{strategy}.head_lr", *HEAD_LR.get(strategy, DEFAULT_HEAD_LR), log=True
        ),
    }
    if strategy in LR:
        values["lr"] = trial.suggest_float(f"{strategy}.lr", *LR[strategy], log=True)
    if strategy == "partial":  # the cache makes the frozen layers free: train the top 1-2
        values["freeze_layers"] = trial.suggest_int(
            "partial.freeze_layers", max(1, layers - 2), max(1, layers - 1)
        )
    if strategy == "lora":
        values["lora_rank"] = trial.suggest_categorical("lora.lora_rank", list(LORA_RANKS))
    return values


def default_study_name(config: FitConfig) -> str:
    return f"{Path(config.data).stem}-{Path(config.model).name}"


def tune(
    base: FitConfig, settings: TuneSettings, console: Reporter | Console | None = None
) -> TuneResult:
    """Search ``settings.strategies`` and their settings around ``base`` (data, model, columns,
    seed …); write ``best.yaml`` and ``trials.csv`` into ``settings.output``."""
    from headstart.pipeline.fit import read_splits

    optuna = optuna_module()
    reporter = Reporter.of(console)
    strategies = check_strategies(settings.strategies)
    output = output_folder(settings)
    task = read_splits(base).task  # bad data fails here, before the study is touched
    layers = layer_count(base)
    output.mkdir(parents=True, exist_ok=True)
    storage = settings.storage or f"sqlite:///{output / 'tune.db'}"
    study_name = settings.study_name or default_study_name(base)
    study = open_study(optuna, storage, study_name, settings.sampler_seed)
    reporter.info(
        f"study '{study_name}' in {storage}: {len(study.trials)} earlier trials; "
        f"{settings.trials} more, strategies {', '.join(strategies)}; scored on the eval "
        "split's main metric"
    )
    objective = Objective(base, strategies, layers, task, reporter, optuna)
    started = time.perf_counter()
    try:
        study.optimize(objective, n_trials=settings.trials)
    finally:  # an interrupted search still leaves its best so far
        result = _write_results(study, base, output, storage, task)
    if result is None:
        raise ConfigError("no trial completed (all were pruned or failed); try more --trials")
    result.seconds = time.perf_counter() - started
    return result


def output_folder(settings: TuneSettings) -> Path:
    """``settings.output``, once the settings are known to make sense (nothing is created)."""
    if settings.trials <= 0:
        raise ConfigError(f"--trials must be positive, got {settings.trials}")
    output = Path(settings.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output}: exists and is a file; pass a folder to --output")
    return output


def open_study(optuna: Any, storage: str, study_name: str, sampler_seed: int | None) -> Any:
    """The study in ``storage``, created or, when another invocation or worker made it, joined."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        return optuna.create_study(
            storage=storage, study_name=study_name, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=sampler_seed, multivariate=True, group=True),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=4),
        )  # fmt: skip
    except (ImportError, ValueError, optuna.exceptions.StorageInternalError) as exc:
        raise ConfigError(f"--storage {storage}: cannot open the study ({exc})") from None


def trial_config(base: FitConfig, values: dict[str, Any]) -> FitConfig:
    """A trial's settings: ``base`` with the suggested ``values``; in process, with no run
    folder, no test split, no tracking and no console output of its own."""
    fields = base.to_dict() | values
    fields |= {"test_data": None, "output": None, "quiet": True, "track": None}
    return FitConfig.from_dict(fields)


def step_offset(strategies: tuple[str, ...], strategy: str) -> int:
    """Steps are offset per strategy, so that the median pruner compares a trial only with
    trials of its own strategy: a head trial at epoch 3 is far behind a partial one at epoch 3
    and would always be pruned otherwise."""
    return 1000 * sorted(strategies).index(strategy)


def pruning_callback(
    trial: Any, task: str, offset: int, optuna: Any
) -> Callable[[dict[str, Any]], None]:
    """``train_model``'s ``on_epoch``: report the eval score to the trial and end training when
    the pruner says so. Never after the first epoch: warmup and a longer schedule leave it
    behind."""

    def report(record: dict[str, Any]) -> None:
        trial.report(float(record[main_metric(task, record)]), offset + record["epoch"])
        if record["epoch"] > 1 and trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {record['epoch']}")

    return report


def cache_note(log: str) -> str:
    """What the trial's feature cache did (``" (hit: …)"``), from its captured log; ``""``
    when it says nothing about the cache."""
    line = next((line for line in log.splitlines() if "cached" in line), "")
    return f" ({line.split(': ', 1)[-1]})" if line else ""


@dataclass
class Objective:
    """The study's objective: one trial is one in-process ``train_model``, scored on the eval
    split's main metric, with one line on the reporter."""

    base: FitConfig
    strategies: tuple[str, ...]
    layers: int
    task: str
    reporter: Reporter
    optuna: Any

    def __call__(self, trial: Any) -> float:
        from headstart.pipeline.fit import train_model

        values = suggest(trial, self.strategies, self.layers)
        config = trial_config(self.base, values)
        trial.set_user_attr("config", values)
        offset = step_offset(self.strategies, values["strategy"])
        on_epoch = pruning_callback(trial, self.task, offset, self.optuna)
        # the trial's own console lines go to a buffer: only its cache note is shown
        log = io.StringIO()
        started = time.perf_counter()
        try:
            trained = train_model(config, Console(file=log, width=200), on_epoch=on_epoch)
        except self.optuna.TrialPruned:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
            self.reporter.info(f"trial {trial.number}: {_shown(values)}: pruned")
            raise
        m = trained.metrics
        metric = main_metric(self.task, m["eval"])
        score = float(m["eval"][metric])
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        trial.set_user_attr("epochs_run", m["epochs_run"])
        self.reporter.info(
            f"trial {trial.number}: {_shown(values)}: {metric} {score:.4f} in "
            f"{time.perf_counter() - started:.1f} s" + cache_note(log.getvalue())
        )
        return score


def _shown(values: dict[str, Any]) -> str:
    parts = [values["strategy"]]
    for key in TUNED[1:]:
        if key in values:
            value = values[key]
            parts.append(f"{key} {value:.2e}" if isinstance(value, float) else f"{key} {value}")
    return " ".join(parts)


def best_recipe(base: FitConfig, values: dict[str, Any]) -> dict[str, Any]:
    """FitConfig fields for ``fit --config``: the trial's settings, and the base settings that
    differ from the defaults (the data, the model, columns …)."""
    defaults = FitConfig(data=base.data).to_dict()
    given = {k: v for k, v in base.to_dict().items() if k == "data" or v != defaults[k]}
    recipe = given | values
    return {k: v for k, v in recipe.items() if k not in NOT_IN_RECIPE}


def _write_results(
    study: Any, base: FitConfig, output: Path, storage: str, task: str
) -> TuneResult | None:
    import yaml

    rows = trial_rows(study)
    complete = [t for t in study.trials if t.state.name == "COMPLETE" and "config" in t.user_attrs]
    if complete:
        write_text(output / "trials.csv", _csv(rows))
    if not complete:
        return None
    best = max(complete, key=lambda t: t.value)
    recipe = best_recipe(base, best.user_attrs["config"])
    metric = main_metric(task, {})
    header = (
        f"# headstart tune: best of {len(complete)} completed trials in study '{study.study_name}'"
        f"\n# ({storage}): trial {best.number}, eval {metric} {best.value:.4f}"
        f"\n# reproduce: headstart fit --config {output / 'best.yaml'}\n"
    )
    write_text(output / "best.yaml", header + yaml.safe_dump(recipe, sort_keys=False))
    return TuneResult(
        output=output, study_name=study.study_name, storage=storage, metric=metric,
        best=FitConfig.from_dict(recipe), best_score=float(best.value), best_trial=best.number,
        rows=rows,
    )  # fmt: skip


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial of the study (all workers, all invocations): its settings, score, state
    and time."""
    rows = []
    for t in study.trials:
        values = t.user_attrs.get("config", {})
        score = t.value if t.value is not None else _last_report(t.intermediate_values)
        rows.append({
            "trial": t.number, "state": t.state.name.lower(),
            "score": None if score is None else round(float(score), 4),
            **{key: values.get(key) for key in TUNED},
            "epochs_run": t.user_attrs.get("epochs_run", len(t.intermediate_values) or None),
            "seconds": t.user_attrs.get("seconds"),
        })  # fmt: skip
    return rows


def _last_report(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
