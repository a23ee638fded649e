"""Fixtures that test modules in several folders share. Each is module-scoped, as the copies it
replaces were: a module gets its own tiny model folder and tokenizer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from transformers import AutoTokenizer

from headstart.models.source import packaged_minilm_dir
from tests.tiny_models import save_tiny


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model folder: a tiny random BERT with the packaged minilm tokenizer."""
    return str(save_tiny("bert", tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="module")
def tokenizer():
    """The packaged minilm tokenizer."""
    return AutoTokenizer.from_pretrained(packaged_minilm_dir())


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``):
    the same float sums in every run, so exact comparisons hold, and no busy-waiting OpenMP
    threads, which on a shared 2-core machine run ~20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
