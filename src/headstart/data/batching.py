"""Tokenised batches with no wasted padding.

Training batches group texts of similar length (seeded shuffle of the groups); evaluation and
prediction batches are sorted by length and results are put back in input order. Each batch
is padded only to its own longest sequence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Encoded:
    """Token ids of one split, unpadded."""

    columns: dict[str, list[list[int]]]  # input_ids, attention_mask, token_type_ids?
    pad_id: int

    def __len__(self) -> int:
        return len(self.columns["input_ids"])

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.columns["input_ids"]]


def encode(
    tokenizer: Any, texts: list[str], max_length: int, pairs: list[str] | None = None
) -> Encoded:
    """Token ids; ``pairs`` makes sentence-pair inputs ([CLS] a [SEP] b [SEP] for BERT), cut
    longest-first to ``max_length``."""
    out = tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=False)
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in out]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Encoded({k: out[k] for k in keep}, pad_id)


def collate(encoded: Encoded, indices: list[int]) -> dict[str, torch.Tensor]:
    """Pad the rows ``indices`` to the longest among them."""
    width = max(len(encoded.columns["input_ids"][i]) for i in indices)
    batch: dict[str, torch.Tensor] = {}
    for name, rows in encoded.columns.items():
        fill = encoded.pad_id if name == "input_ids" else 0
        array = np.full((len(indices), width), fill, dtype=np.int64)
        for r, i in enumerate(indices):
            row = rows[i]
            array[r, : len(row)] = row
        batch[name] = torch.from_numpy(array)
    return batch


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Longest first, so the slowest batch comes first and memory peaks early."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def length_grouped_batches(
    lengths: list[int], batch_size: int, seed: int, epoch: int, group_factor: int = 50
) -> list[list[int]]:
    """Shuffle, cut into mega-batches of ``group_factor`` batches, sort each by length, split
    into batches, then shuffle the batches. Same seed and epoch, same order."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * group_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches
