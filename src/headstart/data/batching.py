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

# Columns of the second text when the two texts of a pair are encoded apart (bi-encoder)
PAIR_PREFIX = "pair_"


@dataclass
class Encoded:
    """Token ids of one split, unpadded."""

    # input_ids, attention_mask, token_type_ids?; pair_input_ids, … for pairs encoded apart
    columns: dict[str, list[list[int]]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.columns["input_ids"])

    @property
    def lengths(self) -> list[int]:
        """Tokens per row; for pairs encoded apart, those of the longer text (both are padded to
        one width, so that one encoder call reads them)."""
        first = self.columns["input_ids"]
        second = self.columns.get(PAIR_PREFIX + "input_ids")
        if second is None:
            return [len(ids) for ids in first]
        return [max(len(a), len(b)) for a, b in zip(first, second, strict=True)]


def encode(
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    pairs: list[str] | None = None,
    apart: bool = False,
) -> Encoded:
    """Token ids; ``pairs`` makes sentence-pair inputs ([CLS] a [SEP] b [SEP] for BERT), cut
    longest-first to ``max_length``. With ``apart`` each text of a pair is encoded on its own
    (each up to ``max_length``) and the second one's columns get ``PAIR_PREFIX``."""
    if pairs is not None and apart:
        first, second = encode(tokenizer, texts, max_length), encode(tokenizer, pairs, max_length)
        columns = first.columns | {PAIR_PREFIX + k: v for k, v in second.columns.items()}
        return Encoded(columns, first.pad_id)
    out = tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=False)
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in out]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Encoded({k: out[k] for k in keep}, pad_id)


def collate(encoded: Encoded, indices: list[int]) -> dict[str, torch.Tensor]:
    """Pad the rows ``indices`` to the longest among them."""
    width = max(
        len(rows[i])
        for name, rows in encoded.columns.items()
        if name.endswith("input_ids")
        for i in indices
    )
    batch: dict[str, torch.Tensor] = {}
    for name, rows in encoded.columns.items():
        fill = encoded.pad_id if name.endswith("input_ids") else 0
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
