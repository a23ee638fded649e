"""``adapt --save-every N`` and ``adapt --resume OUTPUT``: masked-LM checkpoints.

A checkpoint holds everything the loop needs to go on as if it had never stopped: all weights,
the optimizer and scheduler, the RNG states (python, numpy, torch and the masker's own
generator), the step (the batch order is seeded, so the step is its position), the running
loss and curve, and what the run measured before training (the loss before, the head warmup).
It is written with fit's atomic ``save_checkpoint`` (a staging folder, fsynced, renamed to
``OUTPUT/checkpoints/step-N``; the last two kept).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from headstart.engine.callbacks import Checkpointing
from headstart.engine.checkpoints import capture_rng, latest_checkpoint, save_checkpoint
from headstart.engine.loop import Loop
from headstart.errors import ConfigError
from headstart.runs.folder import write_text

CONFIG_FILE = "pretraining.json"


@dataclass
class MLMLoopState:
    step: int  # optimizer steps done
    tokens: int
    seconds: float  # training time so far
    recent: list[float]  # the last losses of the running mean
    curve: list[dict[str, float]]
    run: dict[str, Any] = field(default_factory=dict)  # measured before training


@dataclass
class MLMCheckpoint:
    state: MLMLoopState
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    path: Path


def save_mlm_checkpoint(
    folder: Path, state: MLMLoopState, model: Any, optimizer: Any, scheduler: Any, masker: Any
) -> Path:
    # named_parameters lists a tied decoder once, as the input embeddings
    weights = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()}
    rng = capture_rng() | {"masker": masker.generator.get_state()}
    return save_checkpoint(folder, state, weights, {}, optimizer, scheduler, rng)


class MLMCheckpointing(Checkpointing):
    """The engine's checkpoint callback with masked-LM contents: all weights, the loop state
    from ``state`` and the masker's generator."""

    def __init__(
        self, folder: Path, every: int, state: Callable[[Loop], MLMLoopState], masker: Any
    ) -> None:
        super().__init__(folder, every)
        self.state, self.masker = state, masker

    def save(self, loop: Loop) -> Path:
        return save_mlm_checkpoint(
            self.folder, self.state(loop), loop.model, loop.optimizer, loop.scheduler, self.masker
        )


def load_mlm_checkpoint(path: Path) -> MLMCheckpoint:
    try:
        state = MLMLoopState(**json.loads((path / "loop.json").read_text()))
        saved = torch.load(path / "state.pt", weights_only=True)
        weights = load_file(str(path / "weights.safetensors"))
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise ConfigError(f"{path}: cannot read this checkpoint ({exc})") from None
    return MLMCheckpoint(state, weights, saved["optimizer"], saved["scheduler"], saved["rng"], path)


def open_output(output: Path, settings: dict[str, Any], overwrite: bool) -> Path:
    """A checkpointed run's output folder gets its settings now, before any training, so that
    ``--resume`` can find what to run; the model and metrics arrive only when complete."""
    if overwrite and output.is_dir():
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    write_text(output / CONFIG_FILE, json.dumps(settings, indent=2) + "\n")
    return output / "checkpoints"


def resumable_settings(output: Path) -> dict[str, Any]:
    """The saved settings of an interrupted ``adapt --save-every`` run."""
    if not (output / CONFIG_FILE).is_file():
        raise ConfigError(
            f"{output}: no {CONFIG_FILE} here; --resume takes the output folder of an adapt "
            f"started with --save-every"
        )
    if (output / "metrics.json").exists():
        raise ConfigError(
            f"{output}: this run is complete (metrics.json is there); nothing to resume"
        )
    settings = json.loads((output / CONFIG_FILE).read_text())
    if not settings.get("save_every"):
        raise ConfigError(f"{output}: this run was started without --save-every; nothing to resume")
    return settings


def resume_point(folder: Path) -> MLMCheckpoint | None:
    """The latest complete checkpoint, or None (stopped before the first: start over)."""
    path = latest_checkpoint(folder)
    return load_mlm_checkpoint(path) if path is not None else None
