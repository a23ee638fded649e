"""What every command shares: consoles and turning user errors into one line and exit 1."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from headstart.errors import HeadstartError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

# --track's companions, the same for fit, compare, adapt and pretrain
ExperimentOption = Annotated[str, typer.Option(help="--track mlflow: experiment name")]
TrackDirOption = Annotated[
    str | None, typer.Option(help="--track tensorboard: write events to DIR/<output name>/ instead")
]


def typed_options(ctx: typer.Context) -> dict[str, Any]:
    """The options the user gave (typed, or through an environment variable), not Typer's
    defaults: with a recipe, its values stand where the command line says nothing."""
    return {
        name: value
        for name, value in ctx.params.items()
        if (source := ctx.get_parameter_source(name)) is not None and source.name != "DEFAULT"
    }


def user_errors(func: F) -> F:
    """A HeadstartError becomes ``error: …`` on stderr and exit code 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HeadstartError as exc:
            if os.environ.get("HEADSTART_DEBUG"):
                raise
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
