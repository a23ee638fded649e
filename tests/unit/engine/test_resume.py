"""Checkpoints and resume: a run interrupted mid-epoch and resumed ends with exactly the
metrics of an uninterrupted run (CPU, fp32), for every strategy, and after a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import headstart
from headstart.config import FitConfig
from headstart.engine.checkpoints import KEEP, open_run_folder, step_folders
from headstart.errors import ConfigError
from headstart.pipeline.fit import train_model
from tests.helpers import ROOT, write_csv

# one intra-op thread here and in the subprocesses: the same float sums in both (the
# comparison is exact), and no spinning OpenMP threads on a busy machine
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("data")
    return {
        "data": str(write_csv(root / "train.csv", 48)),
        "eval_data": str(write_csv(root / "eval.csv", 16)),
        "test_data": str(write_csv(root / "test.csv", 16)),
        "big": str(write_csv(root / "big.csv", 120)),
    }


def outcome(metrics: dict[str, Any]) -> dict[str, Any]:
    """What must match exactly: everything but the clock."""
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in metrics["history"]]
    return {
        "eval": metrics["eval"],
        "test": metrics.get("test"),
        "history": history,
        "best_epoch": metrics["best_epoch"],
        "stopped_early": metrics["stopped_early"],
    }


class Crash(Exception):
    pass


def crash_at(step: int):
    def on_step(done: int, _total: int) -> None:
        if done == step:
            raise Crash

    return on_step


CASES = {
    "full": {},
    "partial-cached": {"strategy": "partial", "freeze_layers": 2},
    "head-cached": {"strategy": "head", "epochs": 4},
    "gradual": {"strategy": "gradual", "unfreeze_every": "5steps"},
    "lora": {"strategy": "lora"},
    "early-stopping": {"patience": 1, "epochs": 4, "lr": 3e-3},
}


@pytest.mark.parametrize("case", CASES)
def test_interrupted_and_resumed_equals_uninterrupted(case, tiny_model, data, tmp_path) -> None:
    options = {
        "data": data["data"], "eval_data": data["eval_data"], "test_data": data["test_data"],
        "model": tiny_model, "epochs": 2, "batch_size": 4, "max_length": 32, "lr": 1e-3,
        "head_lr": 1e-2, "precision": "fp32", "quiet": True, "dropout": 0.3,
        "attention_dropout": 0.1, "cache_dir": str(tmp_path / "cache"),
    } | CASES[case]  # fmt: skip
    straight = headstart.fit(FitConfig(**options, output=str(tmp_path / "straight")))

    run_dir = tmp_path / "resumed"
    config = FitConfig(**options, output=str(run_dir), save_every=5)
    checkpoints = open_run_folder(run_dir, config, resuming=False)
    # 12 steps an epoch: killed 5 steps into epoch 2, resumed from the checkpoint at step 15
    with pytest.raises(Crash):
        train_model(config, Console(quiet=True), on_step=crash_at(17), checkpoints=checkpoints)
    assert [p.name for p in step_folders(run_dir / "checkpoints")] == ["step-10", "step-15"]
    assert not (run_dir / "model").exists()

    resumed = headstart.fit(resume=run_dir)
    assert outcome(resumed.metrics) == outcome(straight.metrics)
    assert (run_dir / "model" / "model.safetensors").exists()
    assert len(step_folders(run_dir / "checkpoints")) == KEEP
    with pytest.raises(ConfigError, match="complete"):
        headstart.fit(resume=run_dir)


def test_sigkill_mid_epoch_then_resume_gives_the_same_metrics(tiny_model, data, tmp_path) -> None:
    args = [
        "--data", data["big"], "--eval-data", data["eval_data"], "--test-data",
        data["test_data"], "--model", tiny_model, "--epochs", "2", "--batch-size", "4",
        "--max-length", "32", "--lr", "1e-3", "--head-lr", "1e-2", "--precision", "fp32",
        "--quiet", "--no-cache",
    ]  # fmt: skip
    run_dir = tmp_path / "killed"
    cli = [sys.executable, "-m", "headstart.cli.main", "fit"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*cli, *args, "--save-every", "3", "-o", str(run_dir)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not step_folders(run_dir / "checkpoints") and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "model").exists()
    latest = step_folders(run_dir / "checkpoints")[-1]
    loop = json.loads((latest / "loop.json").read_text())
    assert loop["epoch"] == 1 and 0 < loop["position"] < 30  # 30 batches an epoch

    done = subprocess.run(
        [*cli, "--resume", str(run_dir), "--quiet"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    resumed = json.loads((run_dir / "metrics.json").read_text())

    options = dict(zip(args[0:-2:2], args[1:-2:2], strict=True))
    straight = headstart.fit(
        data=options["--data"], eval_data=options["--eval-data"],
        test_data=options["--test-data"], model=tiny_model, epochs=2, batch_size=4,
        max_length=32, lr=1e-3, head_lr=1e-2, precision="fp32", quiet=True, cache=False,
        output=str(tmp_path / "straight"),
    )  # fmt: skip
    assert outcome(resumed) == outcome(straight.metrics)


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config"):
        headstart.fit(resume=tmp_path)
    FitConfig(data="d.csv").save(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="without --save-every"):
        headstart.fit(resume=tmp_path)
    FitConfig(data="d.csv", save_every=5).save(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="drop 'epochs'"):
        headstart.fit(resume=tmp_path, epochs=3)
