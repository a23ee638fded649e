"""Training checkpoints (``--save-every N``) and resuming from them (``--resume RUN_DIR``).

A checkpoint is everything the loop needs to go on as if it had never stopped: the weights
that can change, the optimizer and scheduler, the RNG states (python, numpy, torch), where the
loop is (epoch, batches done in it, steps) and what it has gathered (running loss sums, the
history, the best epoch's weights and score, the early-stopping counter). A resumed fp32 run
on a CPU therefore ends with exactly the metrics of an uninterrupted one.

Each checkpoint is written to a hidden staging folder (``runs.folder.StagedRun``), fsynced
and renamed to ``checkpoints/step-N``: a kill at any moment leaves only complete checkpoints.
The last ``KEEP`` are kept.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from safetensors.torch import load_file, save_file
from torch import nn

from headstart.config import FitConfig
from headstart.core.distributed import is_main
from headstart.core.reporting import Reporter
from headstart.errors import ConfigError
from headstart.runs.folder import StagedRun, atomic_file

KEEP = 2
STEP_FOLDER = re.compile(r"^step-(\d+)$")


@dataclass
class LoopState:
    """Where the training loop is and what it has gathered so far."""

    epoch: int  # the epoch in progress, from 1
    position: int  # batches of that epoch done
    step: int  # optimizer steps done
    seen: int  # training rows of that epoch done
    loss_sum: float  # their summed loss
    stage: int = 0  # gradual: the unfreezing stage
    best_score: float | None = None  # None: no epoch evaluated yet
    best_epoch: int = 0
    since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Checkpoint:
    state: LoopState
    weights: dict[str, torch.Tensor]
    best_weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    path: Path


def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def changing_weights(model: nn.Module, optimized: set[int]) -> dict[str, torch.Tensor]:
    """The weights the optimizer may change (frozen ones are rebuilt from the source model)."""
    named = model.named_parameters()
    return {n: p.detach().cpu().contiguous() for n, p in named if id(p) in optimized}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    folder: Path,
    state: Any,  # a dataclass with ``step``: fit's LoopState or adapt's MLMLoopState
    weights: dict[str, torch.Tensor],
    best_weights: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/step-N`` atomically and keep only the last ``KEEP`` checkpoints."""
    with StagedRun(folder / f"step-{state.step}", overwrite=True) as stage:
        save_file(weights, str(stage / "weights.safetensors"))
        best = {k: v.detach().cpu().contiguous() for k, v in best_weights.items()}
        save_file(best, str(stage / "best.safetensors"))
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng if rng is not None else capture_rng(),
            },
            stage / "state.pt",
        )
        (stage / "loop.json").write_text(json.dumps(asdict(state), indent=1) + "\n")
        for child in stage.iterdir():
            _fsync(child)
        _fsync(stage)
    _fsync(folder)  # the rename itself survives a power cut
    for old in step_folders(folder)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return folder / f"step-{state.step}"


def step_folders(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary folders start with a dot)."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STEP_FOLDER.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint; leftovers of a write that was killed are removed
    (``.step-N.partial-PID``; ``.step-N.tmp-PID`` from versions before StagedRun)."""
    if folder.is_dir():
        for pattern in (".step-*.partial-*", ".step-*.tmp-*"):
            for stale in folder.glob(pattern):
                shutil.rmtree(stale, ignore_errors=True)
    found = step_folders(folder)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        state = LoopState(**json.loads((path / "loop.json").read_text()))
        saved = torch.load(path / "state.pt", weights_only=True)
        weights = load_file(str(path / "weights.safetensors"))
        best = load_file(str(path / "best.safetensors"))
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise ConfigError(f"{path}: cannot read this checkpoint ({exc})") from None
    return Checkpoint(
        state, weights, best, saved["optimizer"], saved["scheduler"], saved["rng"], path
    )


def restore_weights(model: nn.Module, weights: dict[str, torch.Tensor], where: Path) -> None:
    params = dict(model.named_parameters())
    missing = sorted(set(weights) - set(params))
    if missing:
        raise ConfigError(
            f"{where}: the checkpoint has weights this model lacks ({missing[0]}); was "
            f"config.json or the source model changed since?"
        )
    with torch.no_grad():
        for name, value in weights.items():
            if params[name].shape != value.shape:
                raise ConfigError(
                    f"{where}: '{name}' has shape {tuple(value.shape)} in the checkpoint but "
                    f"{tuple(params[name].shape)} in the model; was the source model changed?"
                )
            params[name].copy_(value)


# -- the run folder of a checkpointed run ------------------------------------------------------
def open_run_folder(run_dir: Path, config: FitConfig, resuming: bool) -> Path | None:
    """With ``--save-every``: the checkpoints folder. A new run's folder gets its
    ``config.json`` now, before any training, so that ``--resume`` can find what to run; the
    model and metrics still arrive only when complete (``StagedRun``)."""
    if not config.save_every:
        return None
    folder = run_dir / "checkpoints"
    if resuming or not is_main():
        return folder
    if config.overwrite and run_dir.is_dir():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(run_dir / "config.json") as tmp:
        config.save(tmp)
    return folder


def resumable_config(run_dir: Path, options: dict[str, Any]) -> FitConfig:
    """The saved settings of an interrupted run; only ``quiet`` may be changed."""
    if not (run_dir / "config.json").is_file():
        raise ConfigError(
            f"{run_dir}: no config.json here; --resume takes the run folder of a fit started "
            f"with --save-every"
        )
    if (run_dir / "metrics.json").exists():
        raise ConfigError(
            f"{run_dir}: this run is complete (metrics.json is there); nothing to resume"
        )
    config = FitConfig.load(run_dir / "config.json")
    if not config.save_every:
        raise ConfigError(
            f"{run_dir}: this run was started without --save-every; nothing to resume"
        )
    others = sorted(set(options) - {"quiet"})
    if others:
        raise ConfigError(
            f"resuming {run_dir} uses the settings in its config.json; drop '{others[0]}'"
        )
    return replace(config, **options)


def resume_point(folder: Path, console: Console | Reporter) -> Checkpoint | None:
    """The latest checkpoint, loaded, or None (killed before the first one: start over)."""
    reporter = Reporter.of(console)
    path = latest_checkpoint(folder)
    if path is None:
        reporter.info("resume: no checkpoint was written yet; training from the beginning")
        return None
    checkpoint = load_checkpoint(path)
    s = checkpoint.state
    reporter.info(f"resume: from {path.name} (epoch {s.epoch}, {s.position} batches into it)")
    return checkpoint
