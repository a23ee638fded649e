"""The server's pieces without a model or a socket: each route of :class:`Service`, the error
handlers and the app's assembly (tests/test_serve_app.py runs the whole app)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from headstart.errors import DataError
from headstart.serving import app as serving
from headstart.serving.app import ServeSettings, Service
from headstart.serving.batcher import BatchStats
from headstart.serving.schemas import BadRequest


class FakeBatcher:
    def __init__(self, refuse: bool = False) -> None:
        self.pending_requests = 2
        self.stats = BatchStats(batches=1, texts=3, largest=3)
        self.refuse = refuse
        self.events: list[str] = []

    async def submit(self, texts: list[str], pairs: list[str] | None) -> list[dict[str, Any]]:
        if self.refuse:
            raise DataError("too long for this model")
        return [
            {"text": t, "pair": p} for t, p in zip(texts, pairs or [None] * len(texts), strict=True)
        ]

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


class FakePredictor:
    def __init__(self, pairs: bool = False) -> None:
        self.pairs = pairs

    def predict(self, texts: list[str], pairs: list[str] | None) -> list[dict[str, Any]]:
        return [{"text": t} for t in texts]


class FakeRequest:
    def __init__(self, body: dict[str, Any]) -> None:
        self._body = json.dumps(body).encode()

    async def body(self) -> bytes:
        return self._body


def _service(batcher: FakeBatcher | None = None, pairs: bool = False, **settings: Any) -> Service:
    return Service(
        FakePredictor(pairs), ServeSettings(**settings), {"task": "classification"},
        batcher or FakeBatcher(),  # type: ignore[arg-type]
    )  # fmt: skip


def _predict(service: Service, body: dict[str, Any]) -> Any:
    return asyncio.run(service.predict(FakeRequest(body)))  # type: ignore[arg-type]


def _json(response: Any) -> Any:
    return json.loads(response.body)


def test_health_counts_pending_requests() -> None:
    assert asyncio.run(_service().health()) == {"status": "ok", "pending_requests": 2}


def test_info_adds_limits_batching_and_auth() -> None:
    info = asyncio.run(_service(max_texts=5, max_chars=50, token="t").get_info())
    assert info["task"] == "classification" and info["auth"] is True
    assert info["limits"] == {"max_texts": 5, "max_chars": 50}
    assert info["batching"]["max_batch_size"] == 64 and info["batching"]["batches"] == 1
    assert asyncio.run(_service().get_info())["auth"] is False


def test_predict_returns_the_batcher_rows() -> None:
    response = _predict(_service(), {"texts": ["a", "b"]})
    assert _json(response) == {"predictions": [{"text": "a", "pair": None},
                                               {"text": "b", "pair": None}]}  # fmt: skip
    pairs = _service(pairs=True)
    body = {"inputs": [{"text": "a", "text_pair": "b"}]}
    response = _predict(pairs, body)
    assert _json(response) == {"predictions": [{"text": "a", "pair": "b"}]}


def test_predict_turns_a_refused_input_into_a_422() -> None:
    service = _service(FakeBatcher(refuse=True))
    with pytest.raises(BadRequest) as caught:
        _predict(service, {"texts": ["a"]})
    assert caught.value.status == 422
    assert caught.value.body() == {"detail": "texts: too long for this model", "field": "texts"}


def test_predict_checks_the_request_first() -> None:
    with pytest.raises(BadRequest, match="over the limit of 1 per request"):
        _predict(_service(max_texts=1), {"texts": ["a", "b"]})


def test_error_handlers_answer_detail_and_field() -> None:
    refused = BadRequest(413, "body", "too big")
    bad = asyncio.run(serving.bad_request(None, refused))  # type: ignore[arg-type]
    assert bad.status_code == 413 and _json(bad) == {"detail": "body: too big", "field": "body"}
    missing = StarletteHTTPException(404, "Not Found")
    http = asyncio.run(serving.http_error(None, missing))  # type: ignore[arg-type]
    assert http.status_code == 404 and _json(http) == {"detail": "Not Found", "field": None}
    bug = asyncio.run(serving.server_error(None, KeyError("x")))  # type: ignore[arg-type]
    assert bug.status_code == 500
    assert _json(bug) == {"detail": "internal error (KeyError); see the server log",
                          "field": None}  # fmt: skip


def test_lifespan_starts_and_stops_the_batcher() -> None:
    app = FastAPI()
    app.state.batcher = batcher = FakeBatcher()

    async def serve() -> None:
        async with serving.lifespan(app):
            assert batcher.events == ["start"]

    asyncio.run(serve())
    assert batcher.events == ["start", "stop"]


def test_create_app_puts_the_pieces_together() -> None:
    app = serving.create_app(FakePredictor(), ServeSettings(token="t"), {"task": "regression"})
    paths = {(r.path, method) for r in app.routes for method in getattr(r, "methods", [])}
    assert {("/health", "GET"), ("/info", "GET"), ("/predict", "POST"), ("/", "GET"),
            ("/favicon.ico", "GET")} <= paths  # fmt: skip
    assert app.summary == "Predictions of a fine-tuned regression model"
    assert app.state.settings.token == "t" and app.state.batcher is not None
    layers = [m.cls for m in app.user_middleware]
    assert layers == [serving.BearerAuth, serving.BodyLimit]  # the token is checked first
    handlers = app.exception_handlers
    assert handlers[BadRequest] is serving.bad_request
    assert handlers[Exception] is serving.server_error
    open_app = serving.create_app(FakePredictor(), ServeSettings(), {})
    assert [m.cls for m in open_app.user_middleware] == [serving.BodyLimit]
    assert open_app.summary == "Predictions of a fine-tuned model"
