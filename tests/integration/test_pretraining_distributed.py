"""``headstart adapt`` under ``accelerate launch`` and ``torchrun`` with two CPU processes (DDP
on gloo): one output folder, the held-out set counted once, and without dropout the same
perplexities as one process (every process masks the same global batch and trains on its
share; gradients are averaged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from headstart.pretraining.run import AdaptConfig, adapt
from tests.helpers import ROOT
from tests.tiny_models import save_tiny

DATA = ROOT / ".." / "shared" / "data"
CORPUS = DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/data is not here")

# 30 documents: 101 training chunks, so one epoch's last global batch of 1 chunk leaves the
# second process without rows of its own; 123 held-out chunks, two batches of 64 to share
OPTIONS = {
    "max_length": 32, "batch_size": 5, "epochs": 1, "head_warmup_steps": 3, "lr": 1e-3,
    "holdout_fraction": 0.5, "precision": "fp32", "seed": 3,
}  # fmt: skip


def launch(launcher: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", *launcher, "-m", "headstart.cli.main", "adapt", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("ddp")
    model = save_tiny("bert", root / "tiny")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"hidden_dropout_prob": 0.0}))
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:30]
    corpus = root / "news.txt"
    corpus.write_text("\n".join(lines) + "\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = AdaptConfig(
            corpus=[str(corpus)], output=str(root / "one"), model=str(model), quiet=True,
            **OPTIONS,
        )  # fmt: skip
        one = adapt(config).metrics
    finally:
        torch.set_num_threads(threads)
    return model, corpus, one


@pytest.mark.parametrize(
    "launcher",
    [
        # accelerate's CPU launcher: headstart makes it 2 processes (--multi_gpu: fit's test)
        ["accelerate.commands.launch", "--cpu", "--num_processes", "2",
         "--mixed_precision", "no", "--dynamo_backend", "no"],
        ["torch.distributed.run", "--nproc_per_node", "2"],
    ],
    ids=["accelerate", "torchrun"],
)  # fmt: skip
def test_two_processes_match_one(setup, launcher, tmp_path: Path) -> None:
    model, corpus, one = setup
    out = tmp_path / "two"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in OPTIONS.items()]
    done = launch(launcher, [*args, "--model", str(model), "--corpus", str(corpus), "-o", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("held-out perplexity") == 1  # the main process reports, once
    assert done.stderr.count("done") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["two"]  # one folder, no staging left over
    two = json.loads((out / "metrics.json").read_text())
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["chunks"] % 5 == 1 and one["heldout_chunks"] > 64  # the cases named above
    assert two["heldout_masked_tokens"] == one["heldout_masked_tokens"] > 0
    assert two["tokens"] == one["tokens"]
    for key in ("perplexity_untrained_head", "perplexity_before", "perplexity_after"):
        assert two[key] == pytest.approx(one[key], rel=1e-4), key
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
    assert (out / "model.safetensors").exists()
