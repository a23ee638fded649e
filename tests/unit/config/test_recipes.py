"""Recipes: ``headstart fit --config recipe.yaml`` (YAML or JSON, dashed or underscored keys),
command-line options winning over the file, a run folder's config.json reproducing its run,
and one clear line for a bad key or value."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headstart.cli import fit as fit_command
from headstart.cli.main import app
from headstart.config import FitConfig
from headstart.config.recipes import recipe_config
from headstart.errors import ConfigError
from tests.helpers import write_csv
from tests.tiny_models import save_tiny


def invoke(*args: str, cwd: Path):
    import os

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        os.chdir(here)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_recipe_values_cli_overrides_and_reproducing_a_run(tmp_path: Path) -> None:
    model = str(save_tiny("bert", tmp_path / "tiny"))
    write_csv(tmp_path / "train.csv", 24)
    write_csv(tmp_path / "eval.csv", 8)
    (tmp_path / "recipe.yaml").write_text(
        f"data: train.csv\neval-data: eval.csv\nmodel: {model}\nepochs: 1\nmax-length: 24\n"
        "batch_size: 4\nlr: 0.001\nprecision: fp32\nquiet: true\nseed: 7\n"
    )
    # --batch-size wins over the file; --seed is not given, so the file's 7 stays
    result = invoke("fit", "--config", "recipe.yaml", "--batch-size", "8", "-o", "a", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (saved["batch_size"], saved["seed"], saved["max_length"], saved["epochs"]) == (
        8, 7, 24, 1,
    )  # fmt: skip
    assert saved["lr"] == 0.001 and saved["eval_data"] == "eval.csv"

    # the run folder's config.json is a recipe: a new folder, the same numbers
    result = invoke("fit", "--config", "a/config.json", "-o", "b", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    first, again = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert again["eval"] == first["eval"]
    assert json.loads((tmp_path / "b" / "config.json").read_text()) == saved | {"output": "b"}


def test_run_folder_config_goes_to_a_new_folder_unless_output_is_given(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    FitConfig(data="d.csv", output=str(run), overwrite=True).save(run / "config.json")
    (run / "metrics.json").write_text("{}")
    config = recipe_config(run / "config.json")
    assert config.output is None and config.overwrite is False  # never the old run by accident
    assert recipe_config(run / "config.json", {"output": "y"}).output == "y"
    # a hand-written recipe keeps its output
    (tmp_path / "r.json").write_text(json.dumps({"data": "d.csv", "output": "runs/z"}))
    assert recipe_config(tmp_path / "r.json").output == "runs/z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: d.csv\nepochs: three\n", "recipe.yaml: 'epochs' must be an integer, got 'three'"),
        ("data: d.csv\nepoch: 3\n", "recipe.yaml: unknown setting 'epoch'; did you mean 'epochs'?"),
        ("data: d.csv\nmax-lenght: 64\n", "setting 'max-lenght'; did you mean 'max-length'?"),
        ("data: d.csv\nlr: fast\n", "recipe.yaml: 'lr' must be a number, got 'fast'"),
        ("data: d.csv\nquiet: 3\n", "recipe.yaml: 'quiet' must be true or false, got 3"),
        ("data: d.csv\nbatch-size: -1\n", "recipe.yaml: --batch-size must be positive, got -1"),
        ("data: d.csv\nstrategy: ful\n", "recipe.yaml: unknown strategy 'ful'"),
        ("data: [d.csv\n", "recipe.yaml: line 2 column 1: not valid YAML"),
        ("- data\n- d.csv\n", "recipe.yaml: expected a mapping of settings"),
        ("epochs: 3\n", "recipe.yaml: no 'data' setting; add 'data: train.csv' or pass --data"),
        ("data: d.csv\nmax_length: 64\nmax-length: 32\n", "'max-length' is given twice"),
    ],
)
def test_bad_recipes_get_one_line_naming_the_key(text: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(text)
    line = one_error_line(invoke("fit", "--config", "recipe.yaml", cwd=tmp_path))
    assert message in line, line
    assert not (tmp_path / "runs").exists()


def test_json_recipes_numbers_for_strings_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"data": "d.csv", "unfreeze_every": 1, "lr": 1}')
    config = recipe_config(tmp_path / "r.json")
    assert config.unfreeze_every == "1" and config.lr == 1.0 and isinstance(config.lr, float)
    (tmp_path / "bad.json").write_text('{"data": "d.csv",}')
    with pytest.raises(ConfigError, match=r"bad.json: line 1 column 18: not valid JSON"):
        recipe_config(tmp_path / "bad.json")
    line = one_error_line(invoke("fit", "--config", "nope.yaml", cwd=tmp_path))
    assert "nope.yaml: recipe file not found" in line
    line = one_error_line(invoke("fit", cwd=tmp_path))
    assert "--data is required" in line


def test_resume_takes_no_other_options(tmp_path: Path) -> None:
    line = one_error_line(invoke("fit", "--resume", "runs/x", "--epochs", "3", cwd=tmp_path))
    assert "drop --epochs" in line


def test_cli_defaults_are_the_config_defaults() -> None:
    """A recipe leaves unset settings at FitConfig's defaults; a plain command line at the
    CLI's: they must be the same, or --config would change what a setting means."""
    cli = inspect.signature(fit_command.fit).parameters
    for f in fields(FitConfig):
        if f.name == "data":
            continue
        default = cli[f.name].default
        if f.name == "attention_dropout":
            default = None if default < 0 else default
        assert default == f.default, f.name
