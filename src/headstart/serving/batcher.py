"""Micro-batching: concurrent requests share one model call.

Each request's texts go into one queue. A single consumer task takes what is queued, up to
``max_batch_size`` texts, waiting at most ``max_wait_ms`` after the first for more to arrive,
and runs the model on one worker thread, so the event loop keeps accepting and parsing
requests while the model runs. Requests that arrive during a model call simply make the next
batch bigger: under load, batches fill without any waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Rows = list[dict[str, Any]]
PredictFn = Callable[[list[str], list[str] | None], Rows]


@dataclass
class _Job:
    """One request: its texts, where its rows go, and a future resolved when all are in."""

    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future[Rows]
    rows: list[dict[str, Any] | None] = field(default_factory=list)
    remaining: int = 0


@dataclass
class BatchStats:
    batches: int = 0
    texts: int = 0
    largest: int = 0
    busy_s: float = 0.0  # time in model calls: against wall time, how busy the model is

    def as_dict(self) -> dict[str, Any]:
        mean = self.texts / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "texts": self.texts,
            "largest": self.largest,
            "mean_size": round(mean, 2),
            "busy_s": round(self.busy_s, 3),
        }


class MicroBatcher:
    """``await batcher.submit(texts, pairs)`` → the rows of ``predict`` for those texts, in
    order. ``predict`` is called from one worker thread, never concurrently."""

    def __init__(self, predict: PredictFn, max_batch_size: int = 64, max_wait_ms: float = 5.0):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self.stats = BatchStats()
        # None is a wake-up call (see drain), not an item
        self._queue: asyncio.Queue[tuple[_Job, int] | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headstart-model")
        self._task: asyncio.Task[None] | None = None
        self.pending_requests = 0  # accepted and not yet answered

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="headstart-batcher")

    def drain(self) -> None:
        """Shutting down: stop waiting for more requests to batch with; run what is queued now.
        Safe to call from a signal handler or another thread."""

        def now() -> None:
            self.max_wait = 0.0
            self._queue.put_nowait(None)  # wakes a collector waiting for a next request

        if self._loop is not None:
            self._loop.call_soon_threadsafe(now)

    async def stop(self) -> None:
        """Answer everything already queued, then stop."""
        await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str], pairs: list[str] | None = None) -> Rows:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        job = _Job(texts, pairs, loop.create_future(), [None] * len(texts), len(texts))
        self.pending_requests += 1
        try:
            for i in range(len(texts)):
                self._queue.put_nowait((job, i))
            return await job.future
        finally:
            self.pending_requests -= 1

    async def _collect(self) -> list[tuple[_Job, int]]:
        """Texts for the next model call; the queue's task_done is called for each taken."""
        first = await self._queue.get()
        while first is None:  # a wake-up call with nothing queued
            self._queue.task_done()
            first = await self._queue.get()
        items = [first]
        deadline = time.monotonic() + self.max_wait
        while len(items) < self.max_batch_size:
            if self._queue.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if item is None:  # drain: no more waiting
                self._queue.task_done()
                deadline = 0.0
                continue
            items.append(item)
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            # A job whose client has gone away (its future cancelled) needs no prediction.
            live = [(job, i) for job, i in items if not job.future.done()]
            try:
                if live:
                    texts = [job.texts[i] for job, i in live]
                    pairs = None
                    if live[0][0].pairs is not None:
                        pairs = [job.pairs[i] for job, i in live]  # type: ignore[index]
                    started = time.perf_counter()
                    rows = await loop.run_in_executor(self._executor, self.predict, texts, pairs)
                    self.stats.busy_s += time.perf_counter() - started
                    self._deliver(live, rows)
                    self.stats.batches += 1
                    self.stats.texts += len(live)
                    self.stats.largest = max(self.stats.largest, len(live))
            except Exception as exc:  # a model failure fails this batch's requests, not the server
                for job, _ in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for _ in items:
                    self._queue.task_done()

    @staticmethod
    def _deliver(items: list[tuple[_Job, int]], rows: Rows) -> None:
        for (job, i), row in zip(items, rows, strict=True):
            if job.future.done():
                continue
            job.rows[i] = row
            job.remaining -= 1
            if job.remaining == 0:
                job.future.set_result(job.rows)  # type: ignore[arg-type]
