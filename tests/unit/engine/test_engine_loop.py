"""The engine's loop on a toy objective: steps and epochs, hook order, resuming, and the
shared optimisation (no decay on biases, warmup and decay, clipping)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from headstart.engine.checkpoints import capture_rng
from headstart.engine.loop import Callback, Evaluation, Loop
from headstart.engine.optim import MAX_GRAD_NORM, build_optimizer, linear_schedule, optimizer_step
from tests.unit.engine.engine_toys import ROWS, Recorder, Toy, make_loop


def test_the_loop_steps_through_every_batch_and_runs_hooks_in_order() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    events: list[str] = []
    objective = Toy(model, epochs=2, scores=[0.1, 0.2])
    loop = make_loop(model, objective, [Recorder("a", events), Recorder("b", events)])
    loop.run()
    assert loop.position.step == 6 and loop.position.epoch == 2 and loop.position.position == 3
    assert loop.position.seen == ROWS  # the epoch in progress: every row once
    assert [r["epoch"] for r in loop.history] == [1, 2]
    assert events[:5] == ["a:start@0", "b:start@0", "a:before1", "b:before1", "a:step1"]
    assert events[-4:] == ["a:epoch2", "b:epoch2", "a:end", "b:end"]
    assert events.count("a:epoch1") == 1 and not model.training  # eval mode at the end


def test_an_objective_without_evaluation_gets_no_epoch_hooks() -> None:
    model = nn.Linear(3, 1)
    events: list[str] = []
    loop = make_loop(model, Toy(model, epochs=2), [Recorder("a", events)])
    loop.run()
    assert not loop.history and not [e for e in events if "epoch" in e]
    assert loop.seconds > 0


def test_stop_ends_training_after_the_epoch_in_progress() -> None:
    class StopAfterFirst(Callback):
        def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
            loop.stop()

    model = nn.Linear(3, 1)
    loop = make_loop(model, Toy(model, epochs=3, scores=[0, 0, 0]), [StopAfterFirst()])
    loop.run()
    assert loop.stopping and loop.position.step == 3 and len(loop.history) == 1


def test_resuming_mid_epoch_ends_with_the_weights_of_an_uninterrupted_run() -> None:
    torch.manual_seed(0)
    start = nn.Linear(3, 1)

    straight_model = copy.deepcopy(start)
    make_loop(straight_model, Toy(straight_model), []).run()

    class Snapshot(Callback):  # what a checkpoint at step 4 (1 batch into epoch 2) holds
        def on_step_end(self, loop: Loop) -> None:
            if loop.position.step == 4:
                self.saved = type("Saved", (), {})()
                self.saved.optimizer = copy.deepcopy(loop.optimizer.state_dict())
                self.saved.scheduler = copy.deepcopy(loop.scheduler.state_dict())
                self.saved.rng = capture_rng()
                self.saved.position = copy.deepcopy(loop.position)
                self.saved.weights = copy.deepcopy(loop.model.state_dict())

    first_model, snapshot = copy.deepcopy(start), Snapshot()
    make_loop(first_model, Toy(first_model), [snapshot]).run()
    saved = snapshot.saved
    resumed_model = copy.deepcopy(start)
    resumed_model.load_state_dict(saved.weights)
    objective = Toy(resumed_model)
    events: list[str] = []
    loop = make_loop(resumed_model, objective, [Recorder("r", events)])
    loop.run(saved)
    assert objective.resumed_from is saved and events[0] == "r:start@4"
    assert events.count("r:step5") == 1 and "r:step4" not in events  # it went on from step 5
    for a, b in zip(straight_model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_no_weight_decay_on_biases_and_norms() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    optimizer = build_optimizer(model, [{"params": list(model.parameters()), "lr": 0.1}], 0.5)
    decayed = [g for g in optimizer.param_groups if g["weight_decay"] == 0.5]
    plain = [g for g in optimizer.param_groups if g["weight_decay"] == 0.0]
    assert [p.shape for g in decayed for p in g["params"]] == [torch.Size([4, 3])]
    assert len([p for g in plain for p in g["params"]]) == 3  # bias, norm weight, norm bias
    assert all(g["lr"] == 0.1 for g in optimizer.param_groups)


def test_linear_warmup_then_decay_and_clipped_steps() -> None:
    model = nn.Linear(2, 1)
    optimizer = build_optimizer(model, [{"params": list(model.parameters()), "lr": 1.0}], 0.0)
    scheduler = linear_schedule(optimizer, total_steps=10, warmup_ratio=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        model.weight.grad = torch.full_like(model.weight, 100.0)
        model.bias.grad = torch.full_like(model.bias, 100.0)
        before = model.weight.detach().clone()
        grads = [model.weight.grad, model.bias.grad]
        optimizer_step(list(model.parameters()), optimizer, scheduler)
        clipped = torch.cat([g.flatten() for g in grads]).norm()
        assert float(clipped) == pytest.approx(MAX_GRAD_NORM, rel=1e-4)  # clipped before the step
        assert model.weight.grad is None  # cleared after it
        assert not torch.equal(before, model.weight) or lrs[-1] == 0
    assert lrs[:3] == pytest.approx([0.0, 0.5, 1.0])  # 2 warmup steps
    assert lrs[2:] == pytest.approx([1.0 - i / 8 for i in range(8)])


def test_an_exception_from_a_hook_ends_training_and_closes_what_callbacks_opened() -> None:
    class Pruned(Exception):
        pass

    closed: list[bool] = []

    class Opens(Callback):
        def on_train_start(self, loop: Loop) -> None:
            loop.stack.callback(lambda: closed.append(True))

        def on_epoch_end(self, loop: Loop, evaluation: Evaluation) -> None:
            raise Pruned

    model = nn.Linear(3, 1)
    events: list[str] = []
    loop = make_loop(
        model, Toy(model, epochs=3, scores=[0, 0, 0]), [Opens(), Recorder("r", events)]
    )
    with pytest.raises(Pruned):
        loop.run()
    assert closed == [True] and loop.position.step == 3 and "r:end" not in events
