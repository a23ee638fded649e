"""The run folder's file names are defined once, and one test says what a run folder is."""

from __future__ import annotations

from pathlib import Path

from headstart.config import recipes
from headstart.core import runfiles
from headstart.runs import folder, tracking


def test_the_names_are_the_run_folder_format() -> None:
    assert runfiles.RUN_FILES == (
        "model", "metrics.json", "config.json", "report.md", "README.md", "checkpoints",
        "tensorboard",
    )  # fmt: skip


def test_runs_folder_and_recipes_share_one_definition() -> None:
    assert folder.is_run_folder is runfiles.is_run_folder
    assert recipes.is_run_folder is runfiles.is_run_folder
    for name in ("MODEL", "METRICS", "CONFIG", "REPORT", "README", "CHECKPOINTS", "TENSORBOARD"):
        assert getattr(folder, name) == getattr(runfiles, name)
        assert name in folder.__all__
    assert set(tracking.ARTIFACTS) >= {"report.md", "metrics.json", "README.md", "config.json"}


def test_a_finished_run_is_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "metrics.json").write_text("{}")
    assert runfiles.is_run_folder(tmp_path)


def test_an_interrupted_run_with_checkpoints_is_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    assert runfiles.is_run_folder(tmp_path)


def test_a_lone_config_json_is_not_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert not runfiles.is_run_folder(tmp_path)
    (tmp_path / "checkpoints").write_text("a file, not the folder")
    assert not runfiles.is_run_folder(tmp_path)


def test_metrics_without_settings_is_not_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "config.json").mkdir()  # a folder named config.json is not the settings
    assert not runfiles.is_run_folder(tmp_path)
    assert not runfiles.is_run_folder(tmp_path / "missing")
