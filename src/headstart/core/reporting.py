"""The library's one voice on the console: status lines, warnings and training progress.

Library code never prints: it is handed a :class:`Reporter` (the CLI and the Python API make
one) and says what it has to say through it. A terminal gets a live progress bar; a log
(CI, ``nohup``, a notebook that captures stderr) gets a plain progress line at least every
``PLAIN_EVERY_S`` seconds instead, which a bar's carriage returns would garble.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

PLAIN_EVERY_S = 30.0


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class StepProgress:
    """Progress over a known number of steps: ``update(advance=1, epoch=…, loss=…, speed=…)``."""

    def __init__(self, reporter: Reporter, total: int, completed: int, label: str) -> None:
        self.reporter, self.total, self.completed, self.label = reporter, total, completed, label
        self.fields: dict[str, Any] = {"epoch": 1, "loss": 0.0, "speed": 0.0}
        self._bar: Progress | None = None
        self._task: Any = None
        self._started = time.perf_counter()
        self._start_step = completed
        self._last_line = self._started

    def __enter__(self) -> StepProgress:
        if self.reporter.quiet:
            return self
        if self.reporter.console.is_terminal:
            self._bar = Progress(
                TextColumn(f"[bold]{self.label} {{task.fields[epoch]}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[speed]:.0f} ex/s"),
                TimeRemainingColumn(),
                console=self.reporter.console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                "train", total=self.total, completed=self.completed, **self.fields
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, advance: int = 1, **fields: Any) -> None:
        self.completed += advance
        self.fields.update(fields)
        if self.reporter.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, **fields)
            return
        now = time.perf_counter()
        if now - self._last_line >= self.reporter.plain_every_s or self.completed == self.total:
            self._last_line = now
            self.reporter.info(self.plain_line(now))

    def plain_line(self, now: float) -> str:
        done = self.completed - self._start_step
        rate = done / max(now - self._started, 1e-9)
        eta = (self.total - self.completed) / rate if rate > 0 else math.inf
        f = self.fields
        return (
            f"{self.label} {f['epoch']}: step {self.completed}/{self.total}, loss {f['loss']:.4f}, "
            f"{f['speed']:.0f} ex/s, ETA {_duration(eta)}"
        )


class Reporter:
    """What a run says on stderr (or nothing, when ``quiet``)."""

    def __init__(
        self,
        console: Console | None = None,
        quiet: bool = False,
        plain_every_s: float = PLAIN_EVERY_S,
    ) -> None:
        self.console = console or Console(stderr=True, quiet=quiet, soft_wrap=True)
        self.quiet = quiet or self.console.quiet
        self.plain_every_s = plain_every_s

    @classmethod
    def of(cls, value: Reporter | Console | None, quiet: bool = False) -> Reporter:
        """A reporter from what a caller passed: a reporter, a rich console, or nothing."""
        if isinstance(value, Reporter):
            return value
        return cls(value, quiet=quiet)

    def info(self, text: str) -> None:
        """A plain line: square brackets in ``text`` are printed, not read as markup."""
        self.console.print(text, markup=False)

    def styled(self, text: str) -> None:
        """A line with rich markup (``[bold]``, ``[green]``)."""
        self.console.print(text)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(text)}")

    def success(self, text: str) -> None:
        self.console.print(f"[bold green]done[/] {escape(text)}")

    @contextmanager
    def steps(self, total: int, completed: int = 0, label: str = "epoch"):
        """Progress over ``total`` steps: a bar on a terminal, plain lines in a log."""
        with StepProgress(self, total, completed, label) as progress:
            yield progress
