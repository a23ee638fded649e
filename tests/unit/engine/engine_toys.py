"""A toy objective for the engine's unit tests: a linear regression on fixed data, with the
scores of its epochs given, and a callback that records the hooks it sees."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from headstart.engine.loop import Callback, Evaluation, Loop, Position, StepLoss

ROWS, BATCH = 10, 4  # 3 batches an epoch: 4, 4, 2


class Toy:
    """A linear regression on fixed data: batches of row indices, an evaluation per epoch."""

    def __init__(self, model: nn.Module, epochs: int = 2, scores: list[float] | None = None):
        gen = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(ROWS, 3, generator=gen), torch.randn(ROWS, 1, generator=gen)
        self.model, self.epochs, self.scores = model, epochs, scores
        self.resumed_from: Any = None

    def batches(self, epoch: int) -> list[list[int]]:
        order = torch.randperm(ROWS, generator=torch.Generator().manual_seed(epoch)).tolist()
        return [order[i : i + BATCH] for i in range(0, ROWS, BATCH)]

    def backward(self, idx: list[int], loop: Loop) -> StepLoss:
        loss = nn.functional.mse_loss(self.model(self.x[idx]), self.y[idx])
        loss.backward()
        return StepLoss(float(loss.detach()), len(idx))

    def evaluate(self, loop: Loop) -> Evaluation | None:
        if self.scores is None:
            return None
        epoch = loop.position.epoch
        score = self.scores[epoch - 1]
        return Evaluation({"epoch": epoch, "score": score}, score)

    def resume(self, loop: Loop, saved: Any) -> Position:
        self.resumed_from = saved
        return saved.position


class Recorder(Callback):
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events = name, events

    def on_train_start(self, loop: Loop) -> None:
        self.events.append(f"{self.name}:start@{loop.position.step}")

    def on_step_start(self, loop: Loop) -> None:
        self.events.append(f"{self.name}:before{loop.position.step + 1}")

    def on_step_end(self, loop: Loop) -> None:
        self.events.append(f"{self.name}:step{loop.position.step}")

    def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
        assert loop.history[-1] is evaluation.record
        self.events.append(f"{self.name}:epoch{loop.position.epoch}")

    def on_train_end(self, loop: Loop) -> None:
        self.events.append(f"{self.name}:end")


def make_loop(model: nn.Module, objective: Toy, callbacks: list[Callback]) -> Loop:
    groups = [{"params": list(model.parameters()), "lr": 0.05}]
    steps = objective.epochs * 3
    return Loop(
        model, groups, objective, callbacks, total_steps=steps, weight_decay=0.01,
        warmup_ratio=0.2, seed=0,
    )  # fmt: skip
