"""Several processes under ``accelerate launch`` (DDP: gloo on CPUs, NCCL on GPUs).

Nothing here runs unless the launcher set ``WORLD_SIZE`` above 1: a plain ``headstart fit``
takes the single-process path unchanged. Launched, every process builds the same model from
the same seed, takes its share of each length-grouped batch (so the global batch is the
``--batch-size`` of a single process), and DDP averages the gradients. Evaluation splits the
sorted batches between processes and gathers the logits, each row exactly once. Only the main
process prints and writes the run folder.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import torch
from torch import nn

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


@functools.cache
def state() -> Any:
    from accelerate import PartialState

    # joins the process group the launcher describes; accelerate takes gloo on CPUs only when
    # told it runs on CPUs (for its own `--cpu` launcher see headstart.cli.cpu_launch)
    return PartialState(cpu=not torch.cuda.is_available())


def same_on_all(value: T) -> T:
    """The main process's ``value`` on every process (e.g. a run folder named by the clock)."""
    if not is_distributed():
        return value
    from accelerate.utils import broadcast_object_list

    state()
    return broadcast_object_list([value])[0]


def wait_for_everyone() -> None:
    if is_distributed():
        state().wait_for_everyone()


def for_this_process(config: Any) -> Any:
    """Other processes than the main one print nothing and track nothing."""
    if is_main():
        return config
    return replace(config, quiet=True, track=None)


class _Forward(nn.Module):
    """DDP syncs gradients only for forwards that go through it, and a training batch may be
    token ids, cached hidden states or cached features: each runs inside this forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, run: Callable[[], torch.Tensor]) -> torch.Tensor:
        return run()


class DataParallel:
    """The accelerate side of the training loop: a prepared model and optimizer."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, changing: bool):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        state()
        # gradual unfreezing: the layers still frozen give no gradients in a step
        ddp = DistributedDataParallelKwargs(find_unused_parameters=changing)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
        self.forward, self.optimizer = self.accelerator.prepare(_Forward(model), optimizer)
        self.world, self.rank = world_size(), rank()

    def share(self, idx: list[int]) -> tuple[list[int], float]:
        return batch_share(idx, self.rank, self.world)

    def total(self, *values: float) -> list[float]:
        """Sums over all processes (the epoch's training loss)."""
        return sum_over_processes(*values)


def sum_over_processes(*values: float) -> list[float]:
    """Each value summed over all processes (a held-out loss and its token count)."""
    from accelerate.utils import reduce

    process = state()  # on its device: NCCL reduces only tensors on the GPU
    summed = reduce(torch.tensor(values, dtype=torch.float64, device=process.device), "sum")
    return [float(v) for v in summed.cpu()]


def batch_share(idx: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """A process's rows of a global batch and the weight that makes DDP's mean of the
    processes' mean losses the mean over the whole batch. A process without rows (a last batch
    smaller than the processes) still runs one row at weight 0: every process must take part
    in each gradient all-reduce."""
    mine = idx[rank::world]
    if not mine:
        return idx[:1], 0.0
    return mine, len(mine) * world / len(idx)
