"""The serving app in process: the micro-batcher, request checks and every task's rows."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import headstart
from headstart.serving import load_predictor, run_info
from headstart.serving.app import ServeSettings, create_app
from headstart.serving.batcher import MicroBatcher
from tests.serve_helpers import make_run


class Echo:
    """A stand-in model: one row per text, recording the batch sizes it is called with."""

    pairs = False

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[int] = []
        self.threads: set[str] = set()

    def predict(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        self.calls.append(len(texts))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [{"text": t, "length": len(t)} for t in texts]


def test_batcher_merges_requests_bounded_and_in_order() -> None:
    model = Echo(delay=0.05)

    async def main() -> list[list[dict[str, Any]]]:
        batcher = MicroBatcher(model.predict, max_batch_size=8, max_wait_ms=20)
        await batcher.start()
        jobs = [batcher.submit([f"r{r}-t{t}" for t in range(3)]) for r in range(10)]
        out = await asyncio.gather(*jobs)
        await batcher.stop()
        return out

    results = asyncio.run(main())
    for r, rows in enumerate(results):
        assert [row["text"] for row in rows] == [f"r{r}-t{t}" for t in range(3)]
    assert sum(model.calls) == 30 and max(model.calls) <= 8  # 30 texts in batches of ≤ 8
    assert len(model.calls) <= 5  # requests were merged, not run one by one
    assert all(name.startswith("headstart-model") for name in model.threads)


def test_batcher_keeps_the_event_loop_free() -> None:
    model = Echo(delay=0.4)

    async def main() -> tuple[int, float]:
        batcher = MicroBatcher(model.predict, max_batch_size=4, max_wait_ms=0)
        await batcher.start()
        ticks = 0
        job = asyncio.ensure_future(batcher.submit(["slow"]))
        started = time.perf_counter()
        while not job.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await batcher.stop()
        return ticks, time.perf_counter() - started

    ticks, seconds = asyncio.run(main())
    assert seconds >= 0.35 and ticks >= 10  # the loop kept running while the model worked


def test_batcher_drain_runs_what_is_queued_without_waiting() -> None:
    model = Echo()

    async def main() -> tuple[list[list[dict[str, Any]]], float]:
        batcher = MicroBatcher(model.predict, max_batch_size=64, max_wait_ms=60_000)
        await batcher.start()
        jobs = [asyncio.ensure_future(batcher.submit([f"t{i}"])) for i in range(3)]
        await asyncio.sleep(0.05)  # all queued, the batcher waiting for more
        started = time.perf_counter()
        batcher.drain()
        out = await asyncio.gather(*jobs)
        waited = time.perf_counter() - started
        await batcher.stop()
        return out, waited

    results, waited = asyncio.run(main())
    assert [rows[0]["text"] for rows in results] == ["t0", "t1", "t2"]
    assert waited < 5 and model.calls == [3]


def test_batcher_failure_fails_only_that_batch() -> None:
    calls = []

    def flaky(texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        calls.append(texts)
        if "boom" in texts:
            raise RuntimeError("model failure")
        return [{"text": t} for t in texts]

    async def main() -> tuple[BaseException | None, list[dict[str, Any]]]:
        batcher = MicroBatcher(flaky, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        failed, ok = await asyncio.gather(
            batcher.submit(["boom"]), batcher.submit(["fine"]), return_exceptions=True
        )
        await batcher.stop()
        return failed, ok  # type: ignore[return-value]

    failed, ok = asyncio.run(main())
    assert isinstance(failed, RuntimeError) and ok == [{"text": "fine"}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve-app")
    return {
        "classification": make_run(root / "cls"),
        "multilabel": make_run(root / "ml", "multilabel"),
        "regression": make_run(root / "reg", "regression"),
        "pairs": make_run(root / "pairs", pairs=True),
        "tokens": make_run(root / "ner", "tokens"),
    }


def client_for(run: Path, **settings: Any) -> TestClient:
    predictor = load_predictor(run, "torch", precision="fp32")
    app = create_app(predictor, ServeSettings(**settings), run_info(run, predictor, "torch"))
    return TestClient(app)


@pytest.mark.parametrize("task", ["classification", "multilabel", "regression", "tokens"])
def test_predict_rows_are_those_of_the_predictor(runs: dict[str, Path], task: str) -> None:
    texts = ["a fine day", "the worst film ever made", "ok"]
    expected = headstart.load(runs[task], precision="fp32").predict(texts)
    with client_for(runs[task]) as client:
        response = client.post("/predict", json={"texts": texts})
        assert response.status_code == 200, response.text
        rows = response.json()["predictions"]
        info = client.get("/info").json()
    key = {"classification": "label", "multilabel": "labels", "regression": "value",
           "tokens": "entities"}[task]  # fmt: skip
    assert [r[key] for r in rows] == [r[key] for r in expected]
    assert [r["text"] for r in rows] == texts
    assert set(rows[0]) == set(expected[0])
    assert info["task"] == task and info["model"] == "tiny-bert" and info["strategy"] == "full"


def test_pairs_take_inputs(runs: dict[str, Path]) -> None:
    inputs = [
        {"text": "A man plays.", "text_pair": "A man is playing."},
        {"text": "x", "text_pair": "y"},
    ]
    expected = headstart.load(runs["pairs"], precision="fp32").predict(
        [i["text"] for i in inputs], [i["text_pair"] for i in inputs]
    )
    with client_for(runs["pairs"]) as client:
        ok = client.post("/predict", json={"inputs": inputs})
        single = client.post("/predict", json={"texts": ["a"]})
        missing = client.post("/predict", json={"inputs": [{"text": "a"}]})
        info = client.get("/info").json()
    assert [r["label"] for r in ok.json()["predictions"]] == [r["label"] for r in expected]
    assert ok.json()["predictions"][0]["text_pair"] == "A man is playing."
    assert single.status_code == 422 and single.json()["field"] == "texts"
    assert missing.status_code == 422 and missing.json()["field"] == "inputs[0].text_pair"
    assert info["pairs"] is True


def test_openapi_documents_the_request_body(runs: dict[str, Path]) -> None:
    with client_for(runs["classification"]) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"texts", "inputs"}
    assert "$ref" not in str(body["schema"])  # inlined: valid anywhere in the document
    assert docs.status_code == 200


def test_body_limit_refuses_huge_bodies_before_parsing(runs: dict[str, Path]) -> None:
    with client_for(runs["classification"], max_texts=2, max_chars=10) as client:
        response = client.post("/predict", content=b'{"texts": ["' + b"a" * 10_000 + b'"]}')
    assert response.status_code == 413 and response.json()["field"] == "body"


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("task", ["classification", "tokens"])
def test_concurrent_workers_give_the_rows_of_one(runs: dict[str, Path], task, restore_threads):
    # 7 texts of mixed lengths in chunks of 2: four batches over 2 workers, and a lone text
    texts = ["a fine day", "the worst film ever made, truly", "ok", "no", "yes and no", "b", "c d"]
    one = load_predictor(runs[task], "torch", precision="fp32", batch_size=2)
    threads = torch.get_num_threads()
    two = load_predictor(runs[task], "torch", precision="fp32", batch_size=2, workers=2)
    assert two.workers == 2 and torch.get_num_threads() == max(1, threads // 2)
    torch.testing.assert_close(two.logits(texts), one.logits(texts), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(two.logits(texts[:1]), one.logits(texts[:1]))
    assert two.predict(texts) == one.predict(texts)
