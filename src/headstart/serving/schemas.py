"""Request and response bodies of the HTTP API, and turning a bad request into one message
that names the field."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError


class PairInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr = Field(description="the text (the first text of a sentence pair)")
    text_pair: StrictStr | None = Field(
        default=None, description="the second text, for a model trained on sentence pairs"
    )


class PredictRequest(BaseModel):
    """Either ``texts`` or ``inputs``, not both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"texts": ["A gripping, beautifully acted film."]},
                {"inputs": [{"text": "A man is playing.", "text_pair": "A man plays."}]},
            ]
        },
    )
    texts: list[StrictStr] | None = Field(default=None, description="texts to predict")
    inputs: list[PairInput] | None = Field(
        default=None, description="objects with text (and text_pair, for pair models)"
    )


class PredictResponse(BaseModel):
    predictions: list[dict[str, Any]] = Field(
        description="one row per text, in request order: the rows of 'headstart predict'"
    )


class ErrorResponse(BaseModel):
    detail: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(default=None, description="the request field at fault")


class BadRequest(Exception):
    """A client mistake: becomes ``status`` with ``{"detail", "field"}``."""

    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        prefix = f"{self.field}: " if self.field else ""
        return {"detail": prefix + self.message, "field": self.field}


def field_path(loc: tuple[Any, ...]) -> str:
    """``("texts", 3)`` → ``texts[3]``; ``("inputs", 0, "text")`` → ``inputs[0].text``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def parse_request(body: bytes) -> PredictRequest:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise BadRequest(400, "body", f"not valid JSON{where}: {_reason(exc)}") from None
    if not isinstance(data, dict):
        raise BadRequest(
            422,
            "body",
            f'must be a JSON object such as {{"texts": ["..."]}}, got {type(data).__name__}',
        )
    try:
        return PredictRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field; send 'texts', or 'inputs' with 'text' and 'text_pair'"
        raise BadRequest(422, field_path(tuple(first["loc"])), message) from None


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def request_schema() -> dict[str, Any]:
    """The JSON schema of :class:`PredictRequest` with its definitions inlined, for the OpenAPI
    document (the body is parsed by hand, so FastAPI cannot derive it)."""
    schema = PredictRequest.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)
