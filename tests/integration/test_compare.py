"""``headstart compare`` end to end on a tiny random model: the grid, comparison.json, resume,
the reports, and report.html rendered in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from headstart.cli.main import app
from headstart.comparison.summary import pareto_front
from tests.helpers import CHROMIUM_FLAGS, chromium_path, write_csv
from tests.tiny_models import save_tiny

STRATEGIES = ["head", "tfidf", "scratch"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("compare")
    options = {
        "data": str(write_csv(root / "train.csv", 40)),
        "eval-data": str(write_csv(root / "eval.csv", 12)),
        "test-data": str(write_csv(root / "test.csv", 12)),
        "model": str(save_tiny("bert", root / "tiny")), "strategies": ",".join(STRATEGIES),
        "seeds": 2, "train-sizes": "20,all", "curve-strategy": "head", "epochs": 1,
        "max-length": 24, "batch-size": 8, "cache-dir": str(root / "cache"),
        "output": str(root / "out"),
    }  # fmt: skip
    args = ["compare", *(f"--{k}={v}" for k, v in options.items())]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    # the same settings as a recipe (lists, underscores), tracked: every job is reused (so the
    # recipe gave the same settings) and every job is logged
    recipe = options | {"strategies": STRATEGIES, "train_sizes": [20, "all"],
                        "track": "mlflow,tensorboard"}  # fmt: skip
    del recipe["train-sizes"]
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    again = CliRunner().invoke(
        app,
        ["compare", "--config", str(root / "recipe.yaml"), "--experiment", "cmp"],
        env={"MLFLOW_TRACKING_URI": uri},
    )
    return {"out": root / "out", "first": first.output, "again": again, "mlflow": uri}


def test_comparison_json_has_every_strategy_over_seeds(compared: dict[str, Any]) -> None:
    c = json.loads((compared["out"] / "comparison.json").read_text())
    assert c["metric"] == "accuracy" and c["split"] == "test" and c["seeds"] == [42, 43]
    assert list(c["strategies"]) == STRATEGIES
    for name, e in c["strategies"].items():
        assert set(e["per_seed"]) == {"42", "43"}, name
        assert 0 <= e["mean"] <= 1 and e["std"] >= 0
        assert e["trainable_params"] > 0 and e["train_seconds"] >= 0 and e["peak_memory_mb"] > 0
    assert c["strategies"]["tfidf"]["std"] == 0  # deterministic
    params = {n: e["trainable_params"] for n, e in c["strategies"].items()}
    assert params["scratch"] > params["tfidf"] > params["head"] == 2 * 32 + 2
    curve = c["learning_curve"]
    assert curve["sizes"] == [20, 40] and set(curve["series"]) == {"head", "scratch"}
    assert all(len(s["per_seed"][0]) == 2 for s in curve["series"].values())
    assert c["pareto"]["params"] and c["reading"]
    assert len(list((compared["out"] / "jobs").glob("*.json"))) == 10  # 6 + 4 curve jobs
    # a line per finished job
    assert compared["first"].count("(seed 4") >= 10


def test_a_second_run_reuses_every_finished_job(compared: dict[str, Any]) -> None:
    again = compared["again"]
    assert again.exit_code == 0, again.output
    assert "reusing 10 finished jobs" in again.output and "; 0 to run" in again.output


def test_a_recipe_run_is_logged_to_mlflow_and_tensorboard(compared: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    assert compared["again"].exit_code == 0, compared["again"].output
    client = MlflowClient(tracking_uri=compared["mlflow"])
    experiment = client.get_experiment_by_name("cmp")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 11  # the comparison and its 10 jobs
    parent = parents[0]
    params = parent.data.params
    assert params["model"].endswith("tiny") and params["seeds"] == "[42, 43]"
    comparison = json.loads((compared["out"] / "comparison.json").read_text())
    for name, entry in comparison["strategies"].items():
        assert parent.data.metrics[f"{name}_mean"] == pytest.approx(entry["mean"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.json", "report.md", "report.html", "figures"} <= artifacts
    head = next(r for r in runs if r.info.run_name == "out/head-nall-seed42")
    assert head.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert head.data.params["candidate"] == "head" and head.data.params["seed"] == "42"
    job = json.loads((compared["out"] / "jobs" / "head-nall-seed42.json").read_text())
    assert head.data.metrics["test_accuracy"] == pytest.approx(job["metrics"]["test"]["accuracy"])
    history = client.get_metric_history(head.info.run_id, "eval_accuracy")
    assert [m.step for m in history] == [1]
    folders = sorted(p.name for p in (compared["out"] / "tensorboard").iterdir())
    assert len(folders) == 11 and "summary" in folders and "tfidf-n20-seed43" not in folders
    assert all(any((compared["out"] / "tensorboard" / f).glob("events.*")) for f in folders)


def test_bad_compare_recipe_is_one_line_naming_the_key(tmp_path: Path) -> None:
    cases = [
        ("data: t.csv\nstrategy: head\n", "unknown setting 'strategy'; did you mean 'strategies'?"),
        ("data: t.csv\nseeds: three\n", "'seeds' must be an integer, got 'three'"),
        ("eval_data: t.csv\n", "--data is required"),
    ]
    for text, message in cases:
        (tmp_path / "r.yaml").write_text(text)
        result = CliRunner().invoke(app, ["compare", "--config", str(tmp_path / "r.yaml")])
        assert result.exit_code == 1, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_reports_are_written(compared: dict[str, Any]) -> None:
    md = (compared["out"] / "report.md").read_text()
    assert "| strategy | mean | ± std |" in md and "## Learning curve" in md
    for name in ("quality", "params", "time", "epochs", "sizes"):
        assert (compared["out"] / "figures" / f"{name}.png").stat().st_size > 1000
    html = (compared["out"] / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and 'src="figures' not in html


def test_report_renders_in_headless_chromium(compared: dict[str, Any], tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    shot = tmp_path / "report.png"
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto((compared["out"] / "report.html").as_uri())
        page.wait_for_function("[...document.images].every(i => i.complete)", timeout=15000)
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
        )
        rows = page.eval_on_selector_all("#results tr", "rows => rows.length")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert len(images) == 5 and all(w > 200 and h > 100 for w, h in images), images
    assert rows == 1 + len(STRATEGIES)
    assert shot.stat().st_size > 20_000


def test_bad_compare_options_are_one_line() -> None:
    cases = [
        (["--strategies", "full,magic"], "--strategies: unknown 'magic'"),
        (["--train-sizes", "100,lots"], "--train-sizes: 'lots'"),
        (["--seeds", "0"], "--seeds must be 1 or more"),
        (["--curve-strategy", "tfidf", "--train-sizes", "10"], "--curve-strategy"),
        (["--track", "wandb"], "unknown --track 'wandb'"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(app, ["compare", "--data", "missing.csv", *extra])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    result = CliRunner().invoke(app, ["compare", "--data", "missing.csv", "--strategies", "head"])
    assert result.exit_code == 1 and "missing.csv" in result.output


def test_pareto_front() -> None:
    points = {"a": (1, 0.8), "b": (10, 0.9), "c": (10, 0.85), "d": (100, 0.9), "e": (0.5, 0.5)}
    assert pareto_front(points) == ["e", "a", "b"]
