"""``headstart fit`` under ``accelerate launch`` with two CPU processes (DDP on gloo): one run
folder, the eval split counted once, and without any dropout the same numbers as one process
(each process takes its share of the same global batch; gradients are averaged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import headstart
from headstart.core.distributed import batch_share
from tests.helpers import ROOT, write_csv
from tests.tiny_models import save_tiny

# --multi_gpu is accelerate's multi-process launcher, on CPUs too; its --cpu launcher starts one
# process (no mpirun hostfile) and headstart starts the two itself (headstart.cli.cpu_launch)
LAUNCHERS = {
    "multi_gpu": ["--multi_gpu", "--num_processes", "2", "--num_machines", "1"],
    "cpu": ["--cpu", "--num_processes", "2"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_processes_match_one(launcher: str, tmp_path: Path) -> None:
    model = save_tiny("bert", tmp_path / "tiny")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"hidden_dropout_prob": 0.0}))
    train = str(write_csv(tmp_path / "train.csv", 45))
    evals = str(write_csv(tmp_path / "eval.csv", 13))  # odd sizes: uneven shares
    options = {
        "data": train, "eval_data": evals, "model": str(model), "epochs": 2, "batch_size": 7,
        "max_length": 32, "precision": "fp32", "dropout": 0.0, "lr": 1e-3, "calibrate": False,
    }  # fmt: skip
    run_dir = tmp_path / "two"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if k != "calibrate"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", *LAUNCHERS[launcher],
         "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "headstart.cli.main", "fit", *args, "--no-calibrate", "-o", str(run_dir)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder") == 1  # the main process reports, once
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("two", ".two"))) == [
        "two"
    ]
    two = json.loads((run_dir / "metrics.json").read_text())
    assert two["processes"] == 2
    assert two["eval"]["examples"] == two["examples"]["eval"] == 13
    assert sum(map(sum, two["eval"]["confusion_matrix"])) == 13

    one = headstart.fit(**options, output=str(tmp_path / "one"), quiet=True).metrics
    assert one["processes"] == 1
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["eval_loss"] == pytest.approx(b["eval_loss"], abs=1e-4)


def test_a_batch_is_shared_so_that_the_mean_loss_is_the_global_one() -> None:
    # 3/5 and 2/5 of the batch, x 2 processes: DDP's average of the two means is the global mean
    assert batch_share([5, 3, 8, 1, 9], 0, 2) == ([5, 8, 9], 1.2)
    assert batch_share([5, 3, 8, 1, 9], 1, 2) == ([3, 1], 0.8)
    assert batch_share([4], 1, 2) == ([4], 0.0)  # no row of its own: takes part at weight 0
