"""``headstart serve``: predictions over HTTP, micro-batched."""

from __future__ import annotations

import signal
import socket
from typing import Annotated

import typer

from headstart.cli.common import err_console, user_errors
from headstart.errors import ConfigError, HeadstartError


@user_errors
def serve(
    run_dir: Annotated[
        str, typer.Argument(help="run folder written by 'headstart fit' (or its ONNX export)")
    ],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0: any free port, printed)")] = 8000,
    backend: Annotated[
        str, typer.Option(help="torch, or onnx (an export by 'headstart export')")
    ] = "torch",
    max_batch_size: Annotated[
        int, typer.Option(help="most texts in one model call, across requests")
    ] = 64,
    max_wait_ms: Annotated[
        float, typer.Option(help="how long a lone request waits for others to batch with")
    ] = 5.0,
    batch_size: Annotated[
        int,
        typer.Option(
            help="texts per model call: a micro-batch is sorted by length and run in chunks of "
            "this many, so short texts are not padded to long ones"
        ),
    ] = 32,
    workers: Annotated[
        int,
        typer.Option(
            help="model calls run at once, each on its share of the CPU threads (0: one per "
            "core, at most 4, on a CPU; 1 on a GPU): a micro-batch is split between them"
        ),
    ] = 0,
    max_texts: Annotated[int, typer.Option(help="most texts in one request")] = 128,
    max_chars: Annotated[int, typer.Option(help="most characters in one text")] = 10_000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="HEADSTART_TOKEN",
            help="require 'Authorization: Bearer TOKEN' on every endpoint but /health "
            "(or set HEADSTART_TOKEN)",
            show_envvar=False,
        ),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="torch backend: auto, fp32, bf16 or fp16")
    ] = "auto",
    graceful_timeout: Annotated[
        float, typer.Option(help="seconds to finish requests in flight after SIGTERM")
    ] = 30.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve a run folder over HTTP: POST /predict, GET /health, GET /info, a try-it page at /
    and OpenAPI docs at /docs. Concurrent requests are batched together."""
    try:
        import uvicorn

        from headstart.serving.app import ServeSettings, create_app
        from headstart.serving.server import GracefulServer
    except ImportError as exc:
        raise HeadstartError(
            f"serving needs the 'serve' extra ({exc.name} is missing): "
            f"pip install 'headstart[serve]'"
        ) from None
    from headstart.serving import load_predictor, run_info

    for name, value in (("--max-batch-size", max_batch_size), ("--batch-size", batch_size),
                        ("--max-texts", max_texts), ("--max-chars", max_chars)):  # fmt: skip
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if workers < 0:
        raise ConfigError(f"--workers must be 0 (one per core) or more, got {workers}")
    if max_wait_ms < 0:
        raise ConfigError(f"--max-wait-ms must be 0 or more, got {max_wait_ms}")
    if token is not None and not token.strip():
        raise ConfigError("--token (or HEADSTART_TOKEN) is empty; give a secret or leave it out")

    sock = _bind(host, port)  # before loading: a taken port fails fast
    # SST-2 on 2 CPU cores: micro-batches of 64 ran 1.6x faster in chunks of 16-32 than whole
    chunk = min(batch_size, max_batch_size)
    predictor = load_predictor(
        run_dir, backend, precision=precision, batch_size=chunk, workers=workers
    )
    settings = ServeSettings(max_batch_size, max_wait_ms, max_texts, max_chars, token)
    app = create_app(predictor, settings, run_info(run_dir, predictor, backend))
    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_timeout,
        access_log=log_level in ("debug", "trace"),
    )
    server = GracefulServer(config, app.state.batcher)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    err_console.print(
        f"serving {run_dir} ({predictor.task.name}, {backend}) on http://{shown}:{bound_port} "
        f"{'with a bearer token ' if token else ''}(try-it page at /, API docs at /docs)",
        markup=False,
    )
    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again: with
    # this handler in place that is a no-op and the command exits 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run(sockets=[sock])
    err_console.print("stopped", markup=False)


def _bind(host: str, port: int) -> socket.socket:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock
