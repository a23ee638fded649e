"""The HTTP app: ``POST /predict``, ``GET /health``, ``GET /info``, the try-it page at ``/`` and
the OpenAPI document.

A client's mistake is always a 4xx with ``{"detail": "<field>: <why>", "field": "<field>"}``;
a 500 means a bug in the server. Bodies are parsed here rather than by FastAPI so that every
mistake (malformed JSON, a missing Content-Type, a wrong type, a limit) gets a message that
names the field.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headstart.errors import HeadstartError
from headstart.serving.batcher import MicroBatcher
from headstart.serving.schemas import (
    BadRequest,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
    parse_request,
    request_schema,
)

log = logging.getLogger("headstart.serve")

# Open without the token: the liveness probe, and the try-it page, a static file with no model
# information (a browser cannot send a header when it navigates; the page sends the token it is
# given with every API call).
OPEN_PATHS = frozenset({"/health", "/", "/favicon.ico"})


@dataclass
class ServeSettings:
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    max_texts: int = 128
    max_chars: int = 10_000
    token: str | None = None

    def body_limit(self) -> int:
        """Bytes a valid request can take: every text at the limit, JSON-escaped (\\uXXXX is 6
        bytes a character), twice for pairs, plus keys and punctuation."""
        return self.max_texts * (2 * 6 * self.max_chars + 64) + 4096


def create_app(predictor: Any, settings: ServeSettings, info: dict[str, Any]) -> FastAPI:
    """``predictor``: anything with ``.predict(texts, pairs)`` and ``.pairs`` (the torch
    :class:`~headstart.inference.predictor.Predictor` or the ONNX one). ``info`` is served at
    ``/info``."""
    batcher = MicroBatcher(predictor.predict, settings.max_batch_size, settings.max_wait_ms)
    app = FastAPI(
        title="headstart",
        version=_version(),
        summary=f"Predictions of a fine-tuned {info.get('task', '')} model".replace("  ", " "),
        lifespan=lifespan,
        responses={
            401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
        },
    )
    app.state.batcher = batcher
    app.state.settings = settings
    add_error_handlers(app)
    add_routes(app, Service(predictor, settings, info, batcher))
    app.add_middleware(BodyLimit, limit=settings.body_limit())
    if settings.token is not None:
        app.add_middleware(BearerAuth, token=settings.token)  # added last: runs first
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The batcher runs while the app serves."""
    batcher: MicroBatcher = app.state.batcher
    await batcher.start()
    yield
    await batcher.stop()  # uvicorn has already let the requests in flight finish


# -- errors: every one is {"detail", "field"} -----------------------------------------------------
async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc.detail), "field": None},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def server_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)  # a bug: the client did nothing wrong
    return JSONResponse(
        {"detail": f"internal error ({type(exc).__name__}); see the server log", "field": None},
        status_code=500,
    )


def add_error_handlers(app: FastAPI) -> None:
    app.exception_handler(BadRequest)(bad_request)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(Exception)(server_error)


# -- routes ---------------------------------------------------------------------------------------
@dataclass
class Service:
    """What the routes answer from: the predictor behind its batcher, the limits, the run's
    information. Each route is a method, testable without an app."""

    predictor: Any
    settings: ServeSettings
    info: dict[str, Any]
    batcher: MicroBatcher

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "pending_requests": self.batcher.pending_requests}

    async def get_info(self) -> dict[str, Any]:
        settings = self.settings
        return self.info | {
            "limits": {"max_texts": settings.max_texts, "max_chars": settings.max_chars},
            "batching": {
                "max_batch_size": settings.max_batch_size,
                "max_wait_ms": settings.max_wait_ms,
                **self.batcher.stats.as_dict(),
            },
            "auth": settings.token is not None,
        }

    async def predict(self, request: Request) -> JSONResponse:
        texts, pairs = check_request(
            parse_request(await request.body()), self.settings, bool(self.predictor.pairs)
        )
        try:
            rows = await self.batcher.submit(texts, pairs)
        except HeadstartError as exc:  # the model refused this input: the client's to fix
            raise BadRequest(422, "texts", str(exc)) from None
        return JSONResponse({"predictions": rows})


async def page() -> HTMLResponse:
    return HTMLResponse(_page_html())


async def favicon() -> Response:
    return Response(status_code=204)


def add_routes(app: FastAPI, service: Service) -> None:
    app.get("/health", summary="liveness: 200 while the server runs (no token needed)")(
        service.health
    )
    app.get("/info", summary="the model: task, labels, strategy, eval metrics, limits")(
        service.get_info
    )
    app.post(
        "/predict",
        summary="predict: the rows of 'headstart predict', in request order",
        response_model=PredictResponse,
        responses={
            400: {"model": ErrorResponse, "description": "the body is not valid JSON"},
            413: {"model": ErrorResponse, "description": "over a limit (texts or characters)"},
            422: {"model": ErrorResponse, "description": "a field is missing or has a wrong type"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema()}},
            }
        },
    )(service.predict)
    app.get("/", include_in_schema=False)(page)
    app.get("/favicon.ico", include_in_schema=False)(favicon)


def check_request(
    request: PredictRequest, settings: ServeSettings, pairs_model: bool
) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of a parsed request, or a :class:`BadRequest`."""
    if request.texts is not None and request.inputs is not None:
        raise BadRequest(422, "body", "send either 'texts' or 'inputs', not both")
    if request.texts is None and request.inputs is None:
        raise BadRequest(
            422,
            "body",
            "missing 'texts' (a list of strings) or 'inputs' (a list of {text, text_pair})",
        )
    if request.texts is not None:
        if pairs_model:
            raise BadRequest(
                422,
                "texts",
                "this model reads sentence pairs; send "
                '{"inputs": [{"text": "...", "text_pair": "..."}]}',
            )
        name = "texts"
        items = [(text, None, f"texts[{i}]") for i, text in enumerate(request.texts)]
    else:
        name = "inputs"
        items = []
        for i, item in enumerate(request.inputs or []):
            if pairs_model and item.text_pair is None:
                raise BadRequest(
                    422, f"inputs[{i}].text_pair", "required: this model reads sentence pairs"
                )
            if not pairs_model and item.text_pair is not None:
                raise BadRequest(
                    422, f"inputs[{i}].text_pair", "this model reads single texts; leave it out"
                )
            items.append((item.text, item.text_pair, f"inputs[{i}].text"))
    if not items:
        raise BadRequest(422, name, "empty list; send at least one text")
    if len(items) > settings.max_texts:
        raise BadRequest(
            413,
            name,
            f"{len(items)} texts, over the limit of {settings.max_texts} per request; "
            f"split them over several requests",
        )
    for text, pair, where in items:
        for value, field in ((text, where), (pair, where.removesuffix(".text") + ".text_pair")):
            if value is None:
                continue
            if not value.strip():
                raise BadRequest(422, field, "empty text")
            if not _is_unicode(value):
                raise BadRequest(422, field, "not valid Unicode text (a lone surrogate escape)")
            if len(value) > settings.max_chars:
                raise BadRequest(
                    413,
                    field,
                    f"{len(value)} characters, over the limit of {settings.max_chars} per text",
                )
    texts = [text for text, _, _ in items]
    pairs = [pair for _, pair, _ in items] if pairs_model else None
    return texts, pairs  # type: ignore[return-value]


def _is_unicode(text: str) -> bool:
    """JSON can carry lone surrogates (``"\\ud800"``) that no tokenizer or encoder accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- ASGI layers ----------------------------------------------------------------------------------
async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BearerAuth:
    """Every path but :data:`OPEN_PATHS` needs ``Authorization: Bearer <token>``; the token is
    compared in constant time. Outermost layer, so nothing else runs for a stranger."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.expected):
            return await self.app(scope, receive, send)
        why = "wrong bearer token" if header else "missing bearer token"
        await _send_json(
            send,
            401,
            {"detail": f"Authorization: {why}; send 'Authorization: Bearer <token>'",
             "field": "Authorization"},
            [(b"www-authenticate", b"Bearer")],
        )  # fmt: skip


class BodyLimit:
    """Refuse a body over ``limit`` bytes with a 413 before it is buffered whole."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await self._refuse(send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await _send_json(
            send,
            413,
            {"detail": f"body: over {self.limit:,} bytes; send fewer or shorter texts",
             "field": "body"},
            [(b"connection", b"close")],
        )  # fmt: skip


def _page_html() -> str:
    return resources.files("headstart.serving").joinpath("page.html").read_text(encoding="utf-8")


def _version() -> str:
    from headstart.core.env import version

    return version()
