"""Names that settings are checked against: a leaf module, so that ``config`` never imports
the layers that implement them (a test keeps each registry equal to its names here)."""

from __future__ import annotations

from headstart.errors import ConfigError

STRATEGY_NAMES = ("full", "partial", "head", "lora", "bitfit", "gradual")
TASK_NAMES = ("classification", "multilabel", "regression", "tokens")
POOLINGS = ("mean", "cls", "pooler")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PAIR_ENCODINGS = ("cross", "bi")
TRACKERS = ("mlflow", "tensorboard")


def tracker_names(track: str | None) -> list[str]:
    """``"mlflow,tensorboard"`` → both names, checked."""
    names = [n.strip().lower() for n in (track or "").split(",") if n.strip()]
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"unknown --track '{name}'; choose {' or '.join(TRACKERS)} (or both, "
                              "comma-separated)")  # fmt: skip
    return names
