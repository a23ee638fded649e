"""``adapt --save-every`` / ``--resume``: an adapt stopped after a checkpoint and resumed ends
exactly as an uninterrupted one (CPU, fp32, dropout on): the weights, optimizer, scheduler,
RNGs, the masker's generator and the batch position all come back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from headstart.cli.main import app
from headstart.pretraining.run import AdaptConfig, adapt
from tests.finance_corpus import CORPUS, needs_corpus
from tests.tiny_models import save_tiny

pytestmark = [needs_corpus, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """An uninterrupted run with a new head (warmed up first) and checkpoints every 4 steps."""
    root = tmp_path_factory.mktemp("resume")
    corpus = root / "news.txt"
    corpus.write_text("\n".join(CORPUS.read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    config = AdaptConfig(
        corpus=[str(corpus)], output=str(root / "full"), model=str(save_tiny("bert", root / "m")),
        steps=10, save_every=4, head_warmup_steps=3, max_length=32, batch_size=4, lr=1e-3,
        precision="fp32", quiet=True,
    )  # fmt: skip
    adapt(config)
    return root / "full"


def test_resumed_from_a_checkpoint_ends_exactly_as_uninterrupted(finished, tmp_path) -> None:
    assert sorted(p.name for p in (finished / "checkpoints").iterdir()) == ["step-4", "step-8"]
    # the folder as a run killed after step 5 leaves it: its settings and the step-4 checkpoint
    stopped = tmp_path / "stopped"
    (stopped / "checkpoints").mkdir(parents=True)
    shutil.copy(finished / "pretraining.json", stopped)
    shutil.copytree(finished / "checkpoints" / "step-4", stopped / "checkpoints" / "step-4")
    result = CliRunner().invoke(app, ["adapt", "--resume", str(stopped), "--quiet"])
    assert result.exit_code == 0, result.output

    full = json.loads((finished / "metrics.json").read_text())
    resumed = json.loads((stopped / "metrics.json").read_text())
    for key in ("perplexity_before", "perplexity_after", "perplexity_untrained_head", "curve",
                "final_train_loss", "tokens", "steps", "heldout_masked_tokens"):  # fmt: skip
        assert resumed[key] == full[key], key
    a, b = load_file(finished / "model.safetensors"), load_file(stopped / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (stopped / "checkpoints").iterdir()) == ["step-4", "step-8"]


def test_resume_errors_are_one_line(finished, tmp_path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["adapt", "--resume", str(finished)])
    assert done.exit_code == 1
    assert "this run is complete (metrics.json is there); nothing to resume" in done.output
    extra = runner.invoke(app, ["adapt", "--resume", str(finished), "--steps", "3"])
    assert extra.exit_code == 1 and "drop --steps" in extra.output
    empty = runner.invoke(app, ["adapt", "--resume", str(tmp_path)])
    assert empty.exit_code == 1 and "no pretraining.json here" in empty.output
