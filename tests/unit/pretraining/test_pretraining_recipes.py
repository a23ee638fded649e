"""``adapt --config recipe.yaml``: settings from a recipe, options on the command line win, an
output's ``pretraining.json`` reproduces it, and a bad recipe is one line naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart.cli.main import app
from tests.finance_corpus import CORPUS, needs_corpus
from tests.tiny_models import save_tiny

pytestmark = [needs_corpus, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    corpus = root / "news.txt"
    corpus.write_text("\n".join(CORPUS.read_text(encoding="utf-8").splitlines()[:12]) + "\n")
    model = save_tiny("bert", root / "tiny")
    path = root / "adapt.yaml"
    path.write_text(
        f"corpus: {corpus}\nmodel: {model}\noutput: {root / 'from-recipe'}\nsteps: 6\n"
        "max-length: 32\nbatch_size: 4\nhead_warmup_steps: 0\nprecision: fp32\nlr: 0.002\n"
        "quiet: true\n"
    )
    return path


def test_recipe_settings_with_the_command_line_winning(recipe, tmp_path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["adapt", "--config", str(recipe), "--steps", "3"])
    assert done.exit_code == 0, done.output
    out = recipe.parent / "from-recipe"
    saved = json.loads((out / "pretraining.json").read_text())
    assert (saved["steps"], saved["max_length"], saved["lr"]) == (3, 32, 0.002)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3

    # an output's pretraining.json is a recipe: the same run into a new folder
    again, saved_recipe = tmp_path / "again", str(out / "pretraining.json")
    done = runner.invoke(app, ["adapt", "--config", saved_recipe, "-o", str(again)])
    assert done.exit_code == 0, done.output
    first = json.loads((out / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert second["perplexity_after"] == first["perplexity_after"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_lenght: 32\n", "unknown setting 'max_lenght'; did you mean 'max_length'?"),
        ("steps: many\n", "'steps' must be an integer, got 'many'"),
        ("corpus: 3\n", "'corpus' must be a file, a pattern or a list of them, got 3"),
    ],
)
def test_a_bad_recipe_is_one_line_and_no_output(recipe, tmp_path, text, message) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace("quiet: true\n", text))
    done = CliRunner().invoke(app, ["adapt", "--config", str(bad), "-o", str(tmp_path / "out")])
    assert done.exit_code == 1
    assert done.output.strip().splitlines() == [f"error: {bad}: {message}"]
    assert not (tmp_path / "out").exists()
