"""Stage 3, build task: the task object of the data read, and the console's data line."""

from __future__ import annotations

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.data.labelled import Splits
from headstart.tasks import TASKS, Task


def build_task(splits: Splits, config: FitConfig, reporter: Reporter) -> Task:
    task = TASKS[splits.task].from_splits(splits, config)
    detected = "" if config.task else " (detected from the data; --task overrides)"
    unit = task.example_unit(bool(splits.train.pairs))
    reporter.info(
        f"data: {len(splits.train)} train, {len(splits.eval)} eval"
        + (f", {len(splits.test)} test" if splits.test else "")
        + (f" {unit}" if unit else "")
        + f"; task {task.description(splits)}{detected}"
    )
    if splits.converted_tags:
        reporter.info(f"tags: {splits.converted_tags:,} IOB1 tags converted to BIO")
    return task
