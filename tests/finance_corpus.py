"""What the pretraining tests share: a real slice of the finance corpus in ../shared/data, and
one torch thread (the same float sums in every run; on a shared 2-core machine two busy-waiting
threads also run far slower)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tests.helpers import SHARED_DATA

CORPUS = SHARED_DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/data is not here")


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Imported by a test module, this runs its tests on one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
