"""Imported once by the server that forks every job: everything a job would otherwise import
lazily on its first call (transformers resolves model classes on first use; that took ~30 s of
a 35 s job on a busy 2-core machine). Nothing here computes with torch: a process forked after
OpenMP threads have run is not safe to compute in."""

from __future__ import annotations

import contextlib
import os

import peft  # noqa: F401
import sklearn.feature_extraction.text
import sklearn.linear_model
import sklearn.metrics  # noqa: F401
from transformers import AutoConfig, AutoModel, AutoTokenizer, get_linear_schedule_with_warmup  # noqa: F401

import headstart.comparison.baselines
import headstart.pipeline.fit
import headstart.strategies.lora  # noqa: F401

MODEL_ENV = "HEADSTART_PRELOAD_MODEL"


def _warm(location: str) -> None:
    config = AutoConfig.from_pretrained(location)
    AutoModel._model_mapping[type(config)]  # imports the architecture's modelling module
    AutoTokenizer.from_pretrained(location)  # and its tokenizer classes


if os.environ.get(MODEL_ENV):
    with contextlib.suppress(Exception):  # only a warm-up: the job itself reports errors
        _warm(os.environ[MODEL_ENV])
