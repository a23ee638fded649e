"""``accelerate launch --cpu --num_processes N`` as N processes.

accelerate's CPU launcher starts a single process unless it is given an mpirun hostfile: it
sets ``ACCELERATE_USE_CPU`` and ``MASTER_ADDR`` but no rank or world size, so the N asked for
is lost. When headstart finds itself started that way, it reads N from the launcher's own
command line (parsed with accelerate's parser) and replaces itself with torch's elastic
launcher (``torch.distributed.run``, what ``torchrun`` is) running N copies of the same
command; each then joins the gloo process group as under ``accelerate launch --multi_gpu``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# how accelerate's launcher appears in its own command line: `accelerate launch ...`
# (console script) or `python -m accelerate.commands.launch ...`
_LAUNCH_MODULES = ("accelerate.commands.launch", "accelerate.commands.accelerate_cli")


def launcher_arguments(argv: list[str]) -> list[str] | None:
    """The arguments after ``accelerate launch`` in a command line, or None if it is not one."""
    for i, arg in enumerate(argv):
        if arg == "launch" and i > 0 and Path(argv[i - 1]).name == "accelerate":
            return argv[i + 1 :]
        if arg in _LAUNCH_MODULES and i > 0 and argv[i - 1] == "-m":
            rest = argv[i + 1 :]
            if arg.endswith("accelerate_cli"):
                return rest[1:] if rest[:1] == ["launch"] else None
            return rest
    return None


def processes_asked(argv: list[str]) -> int:
    """N of ``accelerate launch --cpu --num_processes N`` (or of its --config_file) on one
    machine without an mpirun hostfile; 1 for any other launch."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    rest = launcher_arguments(argv)
    if rest is None:
        return 1
    try:
        args = launch_command_parser().parse_args(rest)
    except SystemExit:  # not a command line accelerate itself would have run
        return 1
    if not args.cpu or args.mpirun_hostfile is not None or (args.num_machines or 1) > 1:
        return 1
    processes = args.num_processes
    if processes is None and args.config_file is not None:
        processes = load_config_from_file(args.config_file).num_processes
    return processes if isinstance(processes, int) and processes > 1 else 1


def _parent_command_line() -> list[str]:
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:  # not Linux, or the parent is gone
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def relaunch_if_accelerate_cpu() -> None:
    """Become ``torch.distributed.run`` with N workers when started by ``accelerate launch
    --cpu --num_processes N`` (which started this one process only); otherwise return."""
    if "RANK" in os.environ or os.environ.get("ACCELERATE_USE_CPU", "").lower() not in (
        "true",
        "1",
    ):
        return
    processes = processes_asked(_parent_command_line())
    if processes < 2:
        return
    print(
        f"accelerate launch --cpu started one process for {processes}: headstart starts the "
        f"{processes} with torch.distributed.run",
        file=sys.stderr,
        flush=True,
    )
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={processes}", "-m", "headstart.cli.main", *sys.argv[1:],
    ]  # fmt: skip
    os.execv(sys.executable, command)  # same pid: accelerate waits on the workers' launcher
