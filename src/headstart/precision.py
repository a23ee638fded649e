"""Device and mixed precision: ``auto`` takes bf16 autocast wherever the hardware does it fast."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from headstart.errors import ConfigError


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch
        return False


def resolve_precision(precision: str, device: str) -> str:
    if precision == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and device == "cpu":
        raise ConfigError("--precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: str) -> Iterator[None]:
    if precision == "fp32":
        yield
        return
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device, dtype=dtype):
        yield
