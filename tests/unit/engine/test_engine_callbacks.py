"""The engine's callbacks: early stopping with the best weights put back, checkpoint cadence,
progress as plain lines in a log, gradual unfreezing, the user's hooks, and fit's ``train``
speaking through a Reporter (quiet: not at all)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from headstart.core.reporting import Reporter
from headstart.engine import callbacks as callbacks_module
from headstart.engine.callbacks import (
    Checkpointing,
    EarlyStopping,
    EpochHook,
    EpochLog,
    GradualUnfreezing,
    Progress,
    StepHook,
)
from headstart.engine.loop import Callback, Evaluation, Loop
from headstart.engine.training import FeatureInputs, TrainSettings, train
from headstart.tasks import ClassificationTask
from tests.unit.engine.engine_toys import Toy, make_loop

PLAIN = re.compile(r"^epoch (\d+): step (\d+)/(\d+), loss \d+\.\d{4}, \d+ ex/s, ETA \S+$")


def log_reporter() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(Console(file=out, width=200), plain_every_s=0), out


class Weights(Callback):
    """The weights after each epoch."""

    def __init__(self) -> None:
        self.after: dict[int, torch.Tensor] = {}

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        self.after[loop.position.epoch] = loop.model.weight.detach().clone()


def test_early_stopping_stops_after_patience_and_puts_the_best_weights_back() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    reporter, out = log_reporter()
    weights = Weights()
    best = EarlyStopping({id(p) for p in model.parameters()}, 2, "accuracy", reporter)
    loop = make_loop(
        model, Toy(model, epochs=5, scores=[0.5, 0.7, 0.6, 0.65, 0.9]), [weights, best]
    )
    loop.run()
    assert [r["epoch"] for r in loop.history] == [1, 2, 3, 4]  # 2 epochs without a better score
    assert best.best_epoch == 2 and best.best_score == 0.7 and best.stopped_early
    assert torch.equal(model.weight, weights.after[2]) and not torch.equal(
        model.weight, weights.after[4]
    )
    assert (
        out.getvalue().strip() == "early stop: no better eval accuracy for 2 epochs; best epoch 2"
    )


def test_without_patience_every_epoch_runs_and_the_best_is_kept() -> None:
    model = nn.Linear(3, 1)
    weights = Weights()
    best = EarlyStopping({id(model.weight)})  # the bias is not kept: it stays as trained
    loop = make_loop(model, Toy(model, epochs=3, scores=[0.2, 0.9, 0.1]), [weights, best])
    loop.run()
    assert len(loop.history) == 3 and not best.stopped_early and best.saved_score == 0.9
    assert torch.equal(model.weight, weights.after[2]) and list(best.best_weights) == ["weight"]


def test_patience_reached_on_the_last_epoch_is_not_an_early_stop() -> None:
    model = nn.Linear(3, 1)
    reporter, out = log_reporter()
    best = EarlyStopping(set(), 1, reporter=reporter)
    make_loop(model, Toy(model, epochs=2, scores=[0.5, 0.4]), [best]).run()
    assert not best.stopped_early and out.getvalue() == ""


def test_a_resumed_early_stopping_goes_on_from_its_state() -> None:
    best = EarlyStopping(set(), 2)
    assert best.saved_score is None
    best.restore(None, 0, 0, {})
    assert best.best_score == float("-inf")
    best.restore(0.8, 3, 1, {"w": torch.zeros(1)})
    assert (best.saved_score, best.best_epoch, best.since_best) == (0.8, 3, 1)


@pytest.mark.parametrize(("every", "saved"), [(1, [1, 2, 3, 4, 5, 6]), (2, [2, 4, 6]), (4, [4])])
def test_checkpoints_are_written_every_n_steps(
    every: int, saved: list[int], tmp_path: Path
) -> None:
    class Steps(Checkpointing):
        def __init__(self) -> None:
            super().__init__(tmp_path, every)
            self.steps: list[int] = []

        def save(self, loop: Loop) -> Path:
            self.steps.append(loop.position.step)
            return self.folder / f"step-{loop.position.step}"

    model = nn.Linear(3, 1)
    cadence = Steps()
    make_loop(model, Toy(model, epochs=2), [cadence]).run()
    assert cadence.steps == saved


def test_progress_prints_plain_lines_when_stderr_is_not_a_terminal() -> None:
    model = nn.Linear(3, 1)
    reporter, out = log_reporter()
    assert not reporter.console.is_terminal
    make_loop(model, Toy(model, epochs=2), [Progress(reporter)]).run()
    lines = out.getvalue().splitlines()
    assert len(lines) == 6, lines  # plain_every_s=0: one a step
    parsed = [PLAIN.match(line) for line in lines]
    assert all(parsed), lines
    assert [(int(m[1]), int(m[2]), int(m[3])) for m in parsed if m] == [
        (1, 1, 6), (1, 2, 6), (1, 3, 6), (2, 4, 6), (2, 5, 6), (2, 6, 6),
    ]  # fmt: skip


def test_progress_in_a_log_waits_its_interval_but_always_shows_the_last_step() -> None:
    model = nn.Linear(3, 1)
    out = io.StringIO()
    reporter = Reporter(Console(file=out, width=200), plain_every_s=3600)
    make_loop(model, Toy(model, epochs=2), [Progress(reporter)]).run()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and PLAIN.match(lines[0]) and "step 6/6" in lines[0]


def test_a_quiet_reporter_shows_no_progress() -> None:
    model = nn.Linear(3, 1)
    out = io.StringIO()
    reporter = Reporter(Console(file=out), quiet=True, plain_every_s=0)
    make_loop(model, Toy(model, epochs=1), [Progress(reporter)]).run()
    assert out.getvalue() == ""


def test_epoch_lines_and_the_users_hooks() -> None:
    model = nn.Linear(3, 1)
    reporter, out = log_reporter()
    steps: list[tuple[int, int]] = []
    records: list[dict] = []
    best = EarlyStopping(set(), 1)
    hooks = [
        EpochHook(records.append),
        EpochLog(reporter, 4),
        best,
        StepHook(lambda *a: steps.append(a)),
    ]
    make_loop(model, Toy(model, epochs=4, scores=[0.5, 0.4, 0.9, 0.9]), hooks).run()
    assert out.getvalue().splitlines() == ["epoch 1/4: score 0.5", "epoch 2/4: score 0.4"]
    assert [r["epoch"] for r in records] == [1, 2]
    # each step, then (total, total) when training stops early
    assert steps == [(1, 12), (2, 12), (3, 12), (4, 12), (5, 12), (6, 12), (12, 12)]


def test_gradual_unfreezing_moves_one_stage_every_n_steps(monkeypatch) -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    depths: list[int] = []

    def set_depth(m: nn.Module, frozen: int) -> None:  # stands in for strategies.set_depth
        depths.append(frozen)
        m[0].weight.requires_grad_(frozen == 0)
        m[0].bias.requires_grad_(frozen == 0)

    monkeypatch.setattr(callbacks_module, "set_depth", set_depth)
    gradual = GradualUnfreezing([1, 0], 2)

    class Trainable(Callback):
        def __init__(self) -> None:
            self.counts: list[int] = []

        def on_step_start(self, loop: Loop) -> None:
            self.counts.append(len(loop.trainable))

    seen = Trainable()
    make_loop(model, Toy(model, epochs=2), [gradual, seen]).run()
    assert depths == [1, 0]  # stage 0 at the start, stage 1 from step 3 on
    assert seen.counts == [2, 2, 4, 4, 4, 4] and gradual.frozen == 0


class Head(nn.Module):
    """Stands in for a TextClassifier on cached features."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


def fit_on_features(console: Console | Reporter, **changes) -> tuple:
    torch.manual_seed(0)
    model = Head()
    features = {s: torch.randn(n, 4) for s, n in (("train", 12), ("eval", 8))}
    labels = {s: (f[:, 0] > 0).long() for s, f in features.items()}
    settings = TrainSettings(
        epochs=3, batch_size=4, weight_decay=0.0, warmup_ratio=0.0, seed=0, precision="fp32",
        device="cpu", **changes,
    )  # fmt: skip
    groups = [{"params": list(model.parameters()), "lr": 0.1}]
    task = ClassificationTask(labels=["neg", "pos"])
    inputs = FeatureInputs(model, features, "cpu")  # type: ignore[arg-type]
    return train(model, inputs, labels, groups, settings, task, console), model  # type: ignore[arg-type]


def test_fit_train_speaks_through_a_reporter_and_keeps_the_best_epoch() -> None:
    reporter, out = log_reporter()
    outcome, _ = fit_on_features(reporter)
    lines = out.getvalue().splitlines()
    epochs = [line for line in lines if line.startswith("epoch ") and "/3: " in line]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "train_loss" in epochs[0] and "eval_loss" in epochs[0] and "accuracy" in epochs[0]
    assert len([line for line in lines if PLAIN.match(line)]) == 9  # 3 steps x 3 epochs
    assert [r["epoch"] for r in outcome.history] == [1, 2, 3] and outcome.best_epoch >= 1
    best = max(outcome.history, key=lambda r: r["accuracy"])
    assert outcome.best_epoch == best["epoch"]


@pytest.mark.parametrize("how", ["settings", "console"])
def test_fit_train_when_quiet_says_nothing(how: str) -> None:
    out = io.StringIO()
    if how == "settings":
        outcome, _ = fit_on_features(Reporter(Console(file=out), plain_every_s=0), quiet=True)
    else:
        outcome, _ = fit_on_features(Console(file=out, quiet=True))
    assert out.getvalue() == "" and len(outcome.history) == 3


def test_fit_train_is_the_same_whoever_listens() -> None:
    quiet, quiet_model = fit_on_features(Console(quiet=True))
    loud, loud_model = fit_on_features(log_reporter()[0])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in quiet.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in loud.history]
    assert torch.equal(quiet_model.linear.weight, loud_model.linear.weight)
