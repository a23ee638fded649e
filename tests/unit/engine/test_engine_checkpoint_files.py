"""Checkpoint folders are staged and renamed whole (``runs.folder.StagedRun``): no staging
folder is left behind, only the last ``KEEP`` remain, and a killed write's leftovers (of this
version or an older one) are removed before resuming."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from headstart.engine.checkpoints import (
    KEEP,
    LoopState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    step_folders,
)
from headstart.engine.optim import build_optimizer, linear_schedule


def test_checkpoints_are_complete_folders_and_only_the_last_are_kept(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    optimizer = build_optimizer(model, [{"params": list(model.parameters()), "lr": 0.1}], 0.0)
    scheduler = linear_schedule(optimizer, 10, 0.0)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    folder = tmp_path / "checkpoints"
    for step in (3, 6, 9):
        state = LoopState(1, step, step, step * 4, 0.5 * step, history=[{"epoch": 1}])
        path = save_checkpoint(folder, state, weights, {}, optimizer, scheduler)
        assert path == folder / f"step-{step}"
    assert sorted(p.name for p in folder.iterdir()) == ["step-6", "step-9"]  # nothing hidden
    assert len(step_folders(folder)) == KEEP
    loaded = load_checkpoint(folder / "step-9")
    assert loaded.state == LoopState(1, 9, 9, 36, 4.5, history=[{"epoch": 1}])
    assert torch.equal(loaded.weights["weight"], weights["weight"]) and loaded.best_weights == {}
    assert json.loads((folder / "step-9" / "loop.json").read_text())["position"] == 9


@dataclass
class Step:
    step: int


def test_a_killed_writes_leftovers_are_removed_and_never_taken(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    model = nn.Linear(2, 1)
    optimizer = build_optimizer(model, [{"params": list(model.parameters()), "lr": 0.1}], 0.0)
    save_checkpoint(folder, Step(4), {}, {}, optimizer, linear_schedule(optimizer, 10, 0.0))
    for stale in (".step-8.partial-123", ".step-8.tmp-123"):  # this version's, an older one's
        (folder / stale).mkdir()
        (folder / stale / "weights.safetensors").write_bytes(b"half")
    assert latest_checkpoint(folder) == folder / "step-4"
    assert sorted(p.name for p in folder.iterdir()) == ["step-4"]
    assert latest_checkpoint(tmp_path / "none") is None
