"""Source model selection: the packaged default, local folders, hub ids from the cache, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headstart.errors import ModelError
from headstart.models.source import packaged_minilm_dir, resolve
from tests.helpers import write_csv
from tests.tiny_models import save_tiny

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headstart.cli.main", *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_minilm_alias_is_the_packaged_model() -> None:
    source = resolve("minilm")
    assert source.kind == "packaged"
    assert Path(source.location) == packaged_minilm_dir()
    assert (packaged_minilm_dir() / "model.safetensors").exists()


def test_local_folders_and_run_folders(tmp_path: Path) -> None:
    model_dir = save_tiny("bert", tmp_path / "m")
    assert resolve(str(model_dir)).kind == "local"
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    assert resolve(str(run)).location == str(run / "model")
    with pytest.raises(ModelError, match="no config\\.json"):
        resolve(str(tmp_path))
    with pytest.raises(ModelError, match="folder not found"):
        resolve("./no/such/folder")


def test_hub_id_loads_from_the_cache_offline_and_unknown_ids_fail_cleanly(tmp_path: Path) -> None:
    # A model laid out as huggingface_hub caches it, then loaded by its id with no network.
    hub = tmp_path / "hf" / "hub" / "models--headstart-test--tiny-bert"
    save_tiny("bert", hub / "snapshots" / COMMIT)
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text(COMMIT)
    data = write_csv(tmp_path / "train.csv", 30)
    env = os.environ | {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("HF_HUB_CACHE", None)
    out = tmp_path / "run"
    done = run_cli(
        "fit", "--data", str(data), "--model", "headstart-test/tiny-bert", "--strategy", "head",
        "--epochs", "1", "-o", str(out), "--quiet", "--cache-dir", str(tmp_path / "c"), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "model" / "model.safetensors").exists()

    failed = run_cli(
        "fit",
        "--data",
        str(data),
        "--model",
        "nobody/no-such-model",
        "-o",
        str(tmp_path / "x"),
        env=env,
    )
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in failed.stderr
    assert "nobody/no-such-model" in lines[0] and "minilm" in lines[0] and "offline" in lines[0]
    assert not (tmp_path / "x").exists()


def test_models_command_lists_catalogue_and_cache_offline(tmp_path: Path) -> None:
    hub = tmp_path / "hf" / "hub" / "models--headstart-test--tiny-bert"
    save_tiny("bert", hub / "snapshots" / COMMIT)
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text(COMMIT)
    env = os.environ | {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env.pop("HF_HUB_CACHE", None)
    listed = run_cli("models", env=env)
    assert listed.returncode == 0, listed.stderr
    for expected in (
        "minilm",
        "ProsusAI/finbert",
        "legal-bert",
        "scibert",
        "BiomedBERT",
        "headstart-test/tiny-bert",
    ):
        assert expected in listed.stdout
    searched = run_cli("models", "--search", "finance", env=env)
    assert searched.returncode == 1
    assert "HF_HUB_OFFLINE" in searched.stderr and "Traceback" not in searched.stderr
