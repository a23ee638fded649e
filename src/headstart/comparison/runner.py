"""The grid of (candidate, seed, training size) jobs, run one after another.

Each job runs in its own process, forked from a server that has imported torch and
transformers once: a job's peak memory is then its own (the kernel resets the high-water mark
at fork), a crash cannot take the grid down, and no import is paid twice. A job's result is
written atomically to ``DIR/jobs/<key>.json`` when it ends, so a run that is interrupted
resumes where it stopped: jobs whose result exists with the same settings are not run again.
Frozen-encoder caches are shared by all jobs (their keys do not include the seed).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import queue as queue_module
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from headstart.comparison.tracking import track_comparison
from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.errors import ConfigError, HeadstartError
from headstart.runs.folder import write_json
from headstart.runs.tracking import require_trackers
from headstart.strategies import STRATEGIES
from headstart.tasks import TASKS

BASELINES = ("tfidf", "scratch")
CANDIDATES = (*STRATEGIES, *BASELINES)
DEFAULT_CANDIDATES = ("full", "partial", "head", "lora", "bitfit", "gradual", "tfidf", "scratch")
# Relative cost of one training example-epoch, full fine-tuning = 1: what the time-left
# estimate assumes before it has measured a candidate. Measured times replace it.
RELATIVE_COST = {"full": 1.0, "scratch": 1.0, "partial": 0.5, "lora": 0.75, "bitfit": 0.7,
                 "gradual": 0.7, "head": 0.03, "tfidf": 0.002}  # fmt: skip
FIRST_GUESS_SECONDS_PER_UNIT = 0.015  # a 2-core CPU, minilm, 27-token texts


@dataclass(frozen=True)
class Job:
    candidate: str
    seed: int
    train_size: int | None  # None: all training examples

    @property
    def key(self) -> str:
        return f"{self.candidate}-n{self.train_size or 'all'}-seed{self.seed}"

    def describe(self) -> str:
        size = "" if self.train_size is None else f", {self.train_size} examples"
        return f"{self.candidate} (seed {self.seed}{size})"


@dataclass
class CompareSpec:
    data: str
    output: Path
    eval_data: str | None = None
    test_data: str | None = None
    model: str = "minilm"
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    seeds: int = 3
    first_seed: int = 42
    train_sizes: tuple[int | None, ...] = ()  # learning curve; None stands for "all"
    curve_strategy: str = "full"  # the pretrained side of the learning curve
    options: dict[str, Any] = field(default_factory=dict)  # FitConfig fields for every job
    track: str | None = None  # "mlflow", "tensorboard" or both: the finished comparison, logged
    experiment: str = "headstart"
    track_dir: str | None = None

    def seed_list(self) -> list[int]:
        return [self.first_seed + i for i in range(self.seeds)]

    def jobs(self) -> list[Job]:
        """Seed by seed, every candidate: the first complete comparison comes early, and the
        time estimate learns every candidate's cost from the first seed."""
        jobs = [Job(c, s, None) for s in self.seed_list() for c in self.candidates]
        for size in self.train_sizes:
            for s in self.seed_list():
                for c in (self.curve_strategy, "scratch"):
                    job = Job(c, s, size)
                    if job not in jobs:
                        jobs.append(job)
        return jobs

    def fit_config(self, job: Job) -> FitConfig:
        """The ``fit`` settings of one job (``scratch``: ``full`` on random weights)."""
        model = f"scratch:{self.model}" if job.candidate == "scratch" else self.model
        strategy = "full" if job.candidate in BASELINES else job.candidate
        return FitConfig(
            data=self.data,
            eval_data=self.eval_data,
            test_data=self.test_data,
            model=model,
            strategy=strategy,
            seed=job.seed,
            train_size=job.train_size,
            quiet=True,
            **self.options,
        )

    def fingerprint(self, job: Job) -> str:
        """What a stored result must match to be reused (the settings, not the output path)."""
        config = self.fit_config(job)
        strategy = STRATEGIES[config.strategy]  # its defaults too: they may change between runs
        defaults = {"lr": strategy.lr, "head_lr": strategy.head_lr, "epochs": strategy.epochs}
        settings = config.to_dict() | {"candidate": job.candidate, "defaults": defaults}
        settings.pop("quiet", None)
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def check_spec(spec: CompareSpec) -> None:
    """Refuse bad options before any work: every job's settings are built once here."""
    unknown = [c for c in spec.candidates if c not in CANDIDATES]
    if unknown:
        raise ConfigError(
            f"--strategies: unknown '{unknown[0]}'; choose from: {', '.join(CANDIDATES)}"
        )
    if not spec.candidates:
        raise ConfigError("--strategies: name at least one strategy")
    if spec.seeds < 1:
        raise ConfigError(f"--seeds must be 1 or more, got {spec.seeds}")
    if spec.curve_strategy not in STRATEGIES:
        raise ConfigError(
            f"--curve-strategy: unknown '{spec.curve_strategy}'; choose from: "
            f"{', '.join(STRATEGIES)}"
        )
    for job in spec.jobs():
        spec.fit_config(job)
    require_trackers(spec.track)  # a missing extra fails before hours of training


# -- one job, in a child process ---------------------------------------------------------------
def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    from headstart.core.env import peak_rss_mb

    return peak_rss_mb()


def run_job(config: FitConfig, candidate: str, out: Path, progress: Any) -> None:
    """Train one job and write its result; ``progress`` receives (steps done, total steps)."""
    import torch

    from headstart.pipeline.fit import train_model

    started = time.perf_counter()
    quiet = Reporter(quiet=True).console  # a job says nothing: the grid reports it
    if candidate == "tfidf":
        from headstart.comparison.baselines import tfidf_baseline
        from headstart.pipeline.fit import read_splits

        metrics = tfidf_baseline(read_splits(config), config.seed)
    else:
        metrics = train_model(config, quiet, on_step=progress).metrics
    result = {
        "candidate": candidate,
        "seed": config.seed,
        "train_size": config.train_size,
        "metrics": metrics,
        "peak_rss_mb": _peak_rss_mb(),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    if torch.cuda.is_available():
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    _write_json_atomic(out, result)


def _child(config: dict[str, Any], candidate: str, out: str, messages: Any) -> None:
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notices
    try:
        run_job(
            FitConfig(**config),
            candidate,
            Path(out),
            lambda done, total: messages.put(("step", done, total)),
        )
    except HeadstartError as exc:
        messages.put(("error", str(exc)))
        raise SystemExit(3) from None


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)


# -- the grid, in the parent ---------------------------------------------------------------------
class TimeLeft:
    """Seconds left: measured times where a candidate has run, a scaled prior otherwise."""

    def __init__(self, spec: CompareSpec, train_rows: int):
        self.spec = spec
        self.train_rows = train_rows
        self.seconds: dict[tuple[str, int | None], list[float]] = {}
        self.units_done = 0.0
        self.seconds_done = 0.0

    def units(self, job: Job) -> float:
        epochs = self.spec.options.get("epochs")
        if job.candidate == "tfidf":
            epochs = 1
        elif epochs is None:
            epochs = STRATEGIES["full" if job.candidate == "scratch" else job.candidate].epochs
        rows = min(job.train_size or self.train_rows, self.train_rows)
        return RELATIVE_COST.get(job.candidate, 1.0) * epochs * rows

    def record(self, job: Job, seconds: float) -> None:
        self.seconds.setdefault((job.candidate, job.train_size), []).append(seconds)
        self.units_done += self.units(job)
        self.seconds_done += seconds

    def expected(self, job: Job) -> float:
        measured = self.seconds.get((job.candidate, job.train_size))
        if measured:
            return sum(measured) / len(measured)
        rate = (
            self.seconds_done / self.units_done if self.units_done else FIRST_GUESS_SECONDS_PER_UNIT
        )
        return self.units(job) * rate

    def left(self, pending: list[Job], current: Job | None, fraction: float) -> float:
        total = sum(self.expected(j) for j in pending)
        if current is not None:
            total += self.expected(current) * (1 - fraction)
        return total


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def load_result(path: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return result if result.get("fingerprint") == fingerprint else None


def run_grid(
    spec: CompareSpec, train_rows: int, console: Reporter | Console | None = None
) -> list[dict[str, Any]]:
    """Run every job not done yet; return every job's result, in grid order."""
    reporter = Reporter.of(console)
    jobs = spec.jobs()
    folder = spec.output / "jobs"
    results: dict[Job, dict[str, Any]] = {}
    for job in jobs:
        found = load_result(folder / f"{job.key}.json", spec.fingerprint(job))
        if found is not None:
            results[job] = found
    todo = [j for j in jobs if j not in results]
    if results:
        reporter.info(f"reusing {len(results)} finished jobs from {folder}; {len(todo)} to run")
    clock = TimeLeft(spec, train_rows)
    for job, result in results.items():
        clock.record(job, float(result["wall_seconds"]))
    if not todo:
        return [results[j] for j in jobs]

    context = _job_context(spec.model)
    progress = _grid_progress(reporter)
    with progress:
        bar = progress.add_task("compare", total=len(todo), left="?")
        for n, job in enumerate(todo):
            progress.update(bar, description=f"{job.describe()}")

            def show(fraction: float, n: int = n, job: Job = job) -> None:
                left = _clock(clock.left(todo[n + 1 :], job, fraction))
                progress.update(bar, completed=n + fraction, left=left)

            out = folder / f"{job.key}.json"
            _run_in_child(context, spec.fit_config(job), job, out, show)
            result = json.loads(out.read_text())
            result["fingerprint"] = spec.fingerprint(job)
            _write_json_atomic(out, result)
            results[job] = result
            clock.record(job, float(result["wall_seconds"]))
            reporter.info(_done_line(job, result))
        progress.update(bar, completed=len(todo), left="0:00:00")
    return [results[j] for j in jobs]


def _job_context(model: str) -> Any:
    """Where jobs start: a fork server that has imported torch, transformers and ``model``'s
    code once, where the platform has one."""
    context = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else None)
    if hasattr(context, "set_forkserver_preload"):
        from headstart.comparison.preload import MODEL_ENV
        from headstart.models.source import resolve

        # the server starts with the first job and inherits this: it warms up this model's code
        os.environ[MODEL_ENV] = resolve(model).location
        context.set_forkserver_preload(["headstart.comparison.preload"])
    return context


def _grid_progress(reporter: Reporter) -> Progress:
    """The grid's bar (jobs done, time left), drawn on the reporter's console."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.0f} jobs"),
        TimeElapsedColumn(),
        TextColumn("left ~{task.fields[left]}"),
        console=reporter.console,
        transient=True,
    )


def _run_in_child(
    context: Any, config: FitConfig, job: Job, out: Path, show: Callable[[float], None]
) -> None:
    """Run one job in its own process until it ends; ``show`` gets the share of it done (at
    least every half second). Its failure is raised here."""
    messages = context.Queue()
    process = context.Process(
        target=_child, args=(config.to_dict(), job.candidate, str(out), messages)
    )
    process.start()
    error = None
    fraction = 0.0
    try:
        while True:
            try:
                message = messages.get(timeout=0.5)
            except queue_module.Empty:
                message = None
            if message is not None and message[0] == "step":
                fraction = message[1] / max(message[2], 1)
            elif message is not None and message[0] == "error":
                error = message[1]
            show(fraction)
            if message is None and not process.is_alive():
                break
    except BaseException:
        process.terminate()
        process.join()
        raise
    process.join()
    if error is not None:
        raise ConfigError(f"{job.describe()}: {error}")
    if process.exitcode != 0 or not out.exists():
        raise RuntimeError(f"{job.describe()} failed (exit code {process.exitcode})")


def _done_line(job: Job, result: dict[str, Any]) -> str:
    from headstart.comparison.summary import main_score

    metric, split, value = main_score(result["metrics"])
    seconds = result["metrics"]["train_seconds"]
    return (
        f"{job.describe()}: {split} {metric} {value:.4f}, train {seconds:.0f} s, "
        f"peak {result['peak_rss_mb']:,.0f} MB"
    )


def _machine() -> str:
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    except (OSError, StopIteration):
        pass
    where = f"{os.cpu_count()} CPU cores ({cpu})"
    if torch.cuda.is_available():
        where = f"{torch.cuda.get_device_name()} GPU, {where}"
    return where


def compare(spec: CompareSpec, console: Reporter | Console | None = None) -> dict[str, Any]:
    """Run the grid (or what is left of it), write ``comparison.json`` and the reports."""
    from headstart.comparison.plots import _pyplot
    from headstart.comparison.report import write_reports
    from headstart.comparison.summary import aggregate
    from headstart.core.env import quiet_transformers
    from headstart.pipeline.fit import read_splits

    reporter = Reporter.of(console)
    started = time.perf_counter()
    check_spec(spec)
    _pyplot()  # no matplotlib: say so before hours of training, not after
    quiet_transformers()
    first = spec.fit_config(Job(spec.candidates[0], spec.first_seed, None))
    splits = read_splits(first)  # bad data fails here, before any training
    if "tfidf" in spec.candidates and "tfidf" not in TASKS[splits.task].baselines:
        raise ConfigError(f"--strategies: tfidf handles classification only, not {splits.task}")
    classes = len(splits.labels.names)
    for size in spec.train_sizes:
        if size is not None and size < max(classes, 2):
            raise ConfigError(f"--train-sizes: {size} is fewer examples than classes ({classes})")
    examples = {"train": len(splits.train), "eval": len(splits.eval)}
    if splits.test is not None:
        examples["test"] = len(splits.test)
    spec.output.mkdir(parents=True, exist_ok=True)
    jobs = spec.jobs()
    reporter.info(
        f"compare: {len(spec.candidates)} strategies x {spec.seeds} seeds"
        + (f" + learning curve at {len(spec.train_sizes)} sizes" if spec.train_sizes else "")
        + f" = {len(jobs)} jobs; {examples}"
    )
    done_before = sum(
        load_result(spec.output / "jobs" / f"{j.key}.json", spec.fingerprint(j)) is not None
        for j in jobs
    )
    results = run_grid(spec, examples["train"], reporter)
    info = {
        "data": spec.data,
        "eval_data": spec.eval_data,
        "test_data": spec.test_data,
        "model": spec.model,
        "candidates": list(spec.candidates),
        "seeds": spec.seed_list(),
        "examples": examples,
        "train_sizes": list(spec.train_sizes),
        "curve_strategy": spec.curve_strategy,
        "options": spec.options,
        "machine": _machine(),
        "jobs": len(jobs),
        "reused": done_before,
        "job_seconds": round(sum(r["wall_seconds"] for r in results), 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    comparison = aggregate(results, info)
    _write_json_atomic(spec.output / "comparison.json", comparison)
    write_reports(spec.output, comparison)
    track_comparison(spec.track, spec.experiment, spec.track_dir, spec.output, comparison, results)
    return comparison
