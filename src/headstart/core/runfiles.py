"""The names of a run folder's files, and what makes a folder a run folder.

A run folder is a format that every layer reads or writes: ``config`` reads a run's
``config.json`` as a recipe, ``runs`` writes the folder, ``inference`` loads its ``model/``,
``serving`` reads its ``metrics.json``. Its names live here, in ``core``, because ``core`` is
the one layer all of them may import (``config`` sits below ``runs`` and may not import it);
not in ``config/names.py``, which holds the vocabulary of settings, not of files. The run
folder's owner, :mod:`headstart.runs.folder`, re-exports them.
"""

from __future__ import annotations

from pathlib import Path

MODEL = "model"  # the folder `headstart.load` reads: weights, tokenizer, headstart.json
METRICS = "metrics.json"  # written last: a run folder with it is finished
CONFIG = "config.json"  # the run's FitConfig, a recipe that reproduces it
REPORT = "report.md"
README = "README.md"  # the model card
CHECKPOINTS = "checkpoints"  # --save-every; --resume goes on from the latest
TENSORBOARD = "tensorboard"  # --track tensorboard, without --track-dir

RUN_FILES = (MODEL, METRICS, CONFIG, REPORT, README, CHECKPOINTS, TENSORBOARD)


def is_run_folder(folder: Path) -> bool:
    """A folder that ``fit`` wrote: its settings, and either its final metrics (a finished run)
    or its checkpoints (a run interrupted, or still training, with ``--save-every``). A
    hand-written ``config.json`` beside nothing else is not one."""
    return (folder / CONFIG).is_file() and (
        (folder / METRICS).exists() or (folder / CHECKPOINTS).is_dir()
    )
