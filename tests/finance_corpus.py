"""What the pretraining tests share: a real slice of the finance corpus in ../shared/data (their
one torch thread is the ``one_thread`` fixture of tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.helpers import SHARED_DATA

CORPUS = SHARED_DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/data is not here")
