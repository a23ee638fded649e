"""How many processes ``accelerate launch --cpu`` was asked for, read from its command line."""

from __future__ import annotations

import pytest

from headstart.cli.cpu_launch import launcher_arguments, processes_asked

SCRIPT = ["-m", "headstart.cli.main", "fit", "--data", "train.csv"]
CONSOLE = ["python", "/venv/bin/accelerate", "launch"]  # how the console script looks in /proc
MODULE = ["python", "-m", "accelerate.commands.launch"]
CLI = ["python", "-m", "accelerate.commands.accelerate_cli", "launch"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([*CONSOLE, "--cpu", "--num_processes", "2", *SCRIPT], 2),
        ([*MODULE, "--cpu", "--num-processes=3", *SCRIPT], 3),
        ([*CLI, "--cpu", "--num_processes", "2", *SCRIPT], 2),
        ([*CONSOLE, "--cpu", *SCRIPT], 1),  # no count asked
        ([*CONSOLE, "--num_processes", "2", *SCRIPT], 1),  # not the CPU launcher
        ([*CONSOLE, "--cpu", "--num_processes", "2", "--mpirun_hostfile", "h", *SCRIPT], 1),
        (["bash", "-c", "headstart fit"], 1),
        ([], 1),
    ],
)
def test_processes_asked(argv: list[str], expected: int) -> None:
    assert processes_asked(argv) == expected


def test_only_the_launcher_arguments_are_parsed() -> None:
    assert launcher_arguments([*CONSOLE, "--cpu", *SCRIPT]) == ["--cpu", *SCRIPT]
    assert launcher_arguments(["python", "-m", "headstart.cli.main", "launch"]) is None
