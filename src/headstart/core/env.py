"""Process-wide set-up: seeding, library verbosity, memory readings."""

from __future__ import annotations

import random
import resource
from importlib import metadata

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def version() -> str:
    """The installed headstart's version (``headstart.__version__``)."""
    try:
        return metadata.version("headstart")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
