"""``headstart serve`` as a real process on loopback: load, bad requests, tokens, shutdown."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx

import headstart
from tests.helpers import CHROMIUM_FLAGS, chromium_path
from tests.serve_helpers import Server, make_run, serve

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORDS = ["the", "a", "film", "plot", "actor", "great", "awful", "boring", "moving", "dull"]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30)))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("serve") / "run")


@pytest.fixture(scope="module")
def server(run: Path) -> Any:
    args = ("--precision", "fp32", "--token", TOKEN, "--max-texts", "8", "--max-chars", "300",
            "--max-batch-size", "32", "--max-wait-ms", "10")  # fmt: skip
    with serve(run, *args) as started:
        yield started


def test_200_concurrent_requests_all_answered_correctly(server: Server, run: Path) -> None:
    rng = random.Random(0)
    requests = [[sentence(rng) for _ in range(rng.randint(1, 4))] for _ in range(200)]
    flat = headstart.load(run, precision="fp32").predict([t for texts in requests for t in texts])
    expected, at = [], 0
    for texts in requests:
        expected.append(flat[at : at + len(texts)])
        at += len(texts)

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, limits=limits) as client:
            return await asyncio.gather(
                *(client.post("/predict", json={"texts": t}, timeout=120) for t in requests)
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 200
    for response, want in zip(responses, expected, strict=True):
        got = response.json()["predictions"]
        assert [r["text"] for r in got] == [r["text"] for r in want]
        assert [r["label"] for r in got] == [r["label"] for r in want]
        for g, w in zip(got, want, strict=True):
            assert max(abs(g["scores"][k] - w["scores"][k]) for k in w["scores"]) < 1e-4
    batching = httpx.get(server.url + "/info", headers=AUTH).json()["batching"]
    assert batching["texts"] >= sum(map(len, requests))
    assert batching["mean_size"] > 1.5 and batching["largest"] <= 32  # merged, and bounded


BAD = [
    # (name, body bytes or JSON, headers, status, field)
    ("malformed JSON", b'{"texts": ["a"', {}, 400, "body"),
    ("not UTF-8", b'{"texts": ["\xff"]}', {}, 400, "body"),
    ("empty body", b"", {}, 400, "body"),
    ("a list, not an object", [], {}, 422, "body"),
    ("neither texts nor inputs", {}, {}, 422, "body"),
    ("both texts and inputs", {"texts": ["a"], "inputs": [{"text": "a"}]}, {}, 422, "body"),
    ("texts not a list", {"texts": "a text"}, {}, 422, "texts"),
    ("a text not a string", {"texts": ["ok", 3]}, {}, 422, "texts[1]"),
    ("null text", {"texts": [None]}, {}, 422, "texts[0]"),
    ("lone surrogate", b'{"texts": ["ok \\ud800"]}', {}, 422, "texts[0]"),
    ("empty list", {"texts": []}, {}, 422, "texts"),
    ("empty text", {"texts": ["fine", "  "]}, {}, 422, "texts[1]"),
    ("unknown field", {"texts": ["a"], "top_k": 3}, {}, 422, "top_k"),
    ("inputs item without text", {"inputs": [{"text_pair": "b"}]}, {}, 422, "inputs[0].text"),
    ("pair for a single-text model", {"inputs": [{"text": "a", "text_pair": "b"}]}, {}, 422,
     "inputs[0].text_pair"),
    ("too many texts", {"texts": ["a"] * 9}, {}, 413, "texts"),
    ("text too long", {"texts": ["ok", "x" * 301]}, {}, 413, "texts[1]"),
    ("body far too large", {"texts": ["x" * 200_000]}, {}, 413, "body"),
    ("form content type", b"texts=a", {"Content-Type": "application/x-www-form-urlencoded"},
     400, "body"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_requests_get_a_4xx_naming_the_field(server: Server, case: tuple[Any, ...]) -> None:
    _, body, headers, status, field = case
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **headers, **AUTH}
    response = httpx.post(server.url + "/predict", content=content, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field and error["detail"].startswith(field + ": ")


def test_wrong_method_and_path_are_json_4xx(server: Server) -> None:
    for method, path, status in (("GET", "/predict", 405), ("GET", "/nope", 404)):
        response = httpx.request(method, server.url + path, headers=AUTH, timeout=30)
        assert response.status_code == status and "detail" in response.json()


@pytest.mark.parametrize("path", ["/predict", "/info", "/openapi.json", "/docs", "/nope"])
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic czNjcmV0", TOKEN])
def test_missing_or_wrong_token_gets_401(server: Server, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    method = "POST" if path == "/predict" else "GET"
    response = httpx.request(
        method, server.url + path, headers=headers, json={"texts": ["a"]}, timeout=30
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["field"] == "Authorization"


def test_token_opens_every_endpoint_and_health_needs_none(server: Server) -> None:
    assert httpx.get(server.url + "/health", timeout=30).json()["status"] == "ok"
    assert httpx.get(server.url + "/", timeout=30).status_code == 200  # the static page
    info = httpx.get(server.url + "/info", headers=AUTH, timeout=30).json()
    assert info["task"] == "classification" and info["labels"] == ["neg", "neu", "pos"]
    assert info["metrics"]["eval"]["accuracy"] == 0.5 and info["auth"] is True
    assert httpx.get(server.url + "/openapi.json", headers=AUTH, timeout=30).status_code == 200


def test_token_from_the_environment(run: Path) -> None:
    with serve(run, "--precision", "fp32", env={"HEADSTART_TOKEN": "from-env"}) as server:
        url = server.url + "/info"
        assert httpx.get(url, timeout=30).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer from-env"}, timeout=30)
        assert ok.status_code == 200


def test_sigterm_finishes_the_requests_in_flight(run: Path) -> None:
    """Requests accepted before SIGTERM are all answered; the process then exits 0."""
    count = 12
    texts = [[f"request {i} " + "word " * i] for i in range(count)]
    expected = headstart.load(run, precision="fp32").predict([t[0] for t in texts])
    # A long --max-wait-ms keeps the accepted requests queued when the signal arrives; on
    # SIGTERM the server runs them at once instead of waiting it out.
    with serve(run, "--precision", "fp32", "--max-wait-ms", "60000") as server:
        responses: list[httpx.Response | BaseException | None] = [None] * count

        def send(i: int) -> None:
            try:
                responses[i] = httpx.post(
                    server.url + "/predict", json={"texts": texts[i]}, timeout=60
                )
            except BaseException as exc:  # recorded, so the assertion below shows it
                responses[i] = exc

        threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the server holds all of them
            health = httpx.get(server.url + "/health", timeout=10).json()
            if health["pending_requests"] == count:
                break
            time.sleep(0.02)
        assert health["pending_requests"] == count
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=60)
        answered_in = time.monotonic() - signalled
        code = server.process.wait(timeout=60)
        log = server.stderr()
    assert code == 0, log
    for i, response in enumerate(responses):
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == expected[i]["label"]
    assert "stopped" in log
    assert answered_in < 30  # drained at once, not after the 60 s wait
    with pytest.raises(httpx.ConnectError):  # and it accepts nothing new
        httpx.get(server.url + "/health", timeout=5)


def test_serve_bad_options_are_one_line_errors(run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from headstart.cli.main import app

    cases = [
        ([str(tmp_path / "missing")], "run folder not found"),
        ([str(run), "--max-batch-size", "0"], "--max-batch-size must be at least 1"),
        ([str(run), "--workers", "-1"], "--workers must be 0 (one per core) or more"),
        ([str(run), "--backend", "tensorflow"], "--backend must be one of torch, onnx"),
        ([str(run), "--token", " "], "--token (or HEADSTART_TOKEN) is empty"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, ["serve", *args, "--port", "0"])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


# -- the try-it page, driven in headless Chromium ----------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Any:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with playwright.sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


def test_try_it_page_in_headless_chromium(server: Server, browser: Any) -> None:
    text = "a gripping, moving film with a witty plot"
    expected = httpx.post(
        server.url + "/predict", json={"texts": [text]}, headers=AUTH, timeout=30
    ).json()["predictions"][0]
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    # without the token the page says so, both for /info and for a prediction
    page.wait_for_function("document.getElementById('model').textContent.includes('token')")
    page.fill("#text", text)
    page.click("#predict")
    page.wait_for_selector("#error:not(:empty)")
    assert "missing bearer token" in page.text_content("#error")
    # with the token: type, click, and the label and scores appear
    page.fill("#token", TOKEN)
    page.press("#token", "Tab")  # "change": the page reloads /info with the token
    page.wait_for_function(
        "document.getElementById('model').textContent.includes('classification')"
    )
    page.click("#predict")
    page.wait_for_selector("#results .result .label")
    assert page.text_content("#results .label").split()[0] == expected["label"]
    bars = page.eval_on_selector_all(".bar", "bars => bars.map(b => b.dataset.label)")
    assert sorted(bars) == sorted(expected["scores"]) and page.text_content("#error") == ""
    assert all(url.startswith(server.url) for url in requested), requested  # works offline
    page.close()


def test_try_it_page_renders_every_row_kind(server: Server, browser: Any) -> None:
    """Entities are highlighted; multi-label rows show their labels; regression its value
    (rows served by a stand-in /predict, so no such model is needed)."""
    text = "Angela Merkel visited Paris."
    rows = [
        {"text": text, "entities": [
            {"start": 0, "end": 13, "type": "PER", "score": 0.99, "text": "Angela Merkel"},
            {"start": 22, "end": 27, "type": "LOC", "score": 0.97, "text": "Paris"}]},
        {"text": "so happy", "labels": ["joy", "love"],
         "scores": {"joy": 0.9, "love": 0.6, "anger": 0.1}},
        {"text": "two men", "value": 3.25},
    ]  # fmt: skip
    page = browser.new_page()
    page.route("**/predict", lambda route: route.fulfill(json={"predictions": rows}))
    page.goto(server.url + "/")
    page.fill("#text", text)
    page.click("#predict")
    page.wait_for_selector("#results mark")
    marks = page.eval_on_selector_all(
        "mark", "ms => ms.map(m => [m.firstChild.textContent, m.dataset.type])"
    )
    assert marks == [["Angela Merkel", "PER"], ["Paris", "LOC"]]
    assert page.text_content("#results .entities").startswith("Angela Merkel")
    chips = page.eval_on_selector_all(".chip", "cs => cs.map(c => c.textContent)")
    assert chips == ["joy", "love"]
    assert page.text_content("#results .number") == "3.25"
    page.close()
