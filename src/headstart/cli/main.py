"""The ``headstart`` entry point: registers one command per module, nothing else."""

from __future__ import annotations

import os

import typer

from headstart.cli.adapt import adapt
from headstart.cli.compare import compare
from headstart.cli.evaluate import evaluate
from headstart.cli.export import export
from headstart.cli.fit import fit
from headstart.cli.models import models
from headstart.cli.predict import predict
from headstart.cli.pretrain import pretrain
from headstart.cli.runs import runs
from headstart.cli.serve import serve
from headstart.cli.shift import ShiftCommand, shift
from headstart.cli.tune import tune

app = typer.Typer(
    name="headstart",
    help="Transfer learning on text: fine-tune a pretrained encoder on your labelled data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(fit)
app.command()(predict)
app.command()(evaluate)
app.command()(models)
app.command()(serve)
app.command()(export)
app.command()(compare)
app.command()(adapt)
app.command()(pretrain)
app.command(cls=ShiftCommand)(shift)
app.command()(tune)
app.command()(runs)


def run() -> None:
    from headstart.cli.cpu_launch import relaunch_if_accelerate_cpu

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    relaunch_if_accelerate_cpu()  # `accelerate launch --cpu --num_processes N`: N processes
    app()


if __name__ == "__main__":
    run()
