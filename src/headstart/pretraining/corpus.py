"""Corpus → documents → a seeded held-out split by document → fixed-length token chunks.

Documents are packed: their tokens are concatenated (a [SEP] between two documents) and cut
into chunks of ``max_length`` tokens, each framed as ``[CLS] … [SEP]``. No padding is wasted
on short documents and long ones are used whole, not truncated.
"""

from __future__ import annotations

import glob
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headstart.data.readers import FORMATS, decode_file, read_lines, read_table
from headstart.errors import ConfigError, DataError

DEFAULT_TEXT_COLUMNS = ("text", "sentence")
TOKENIZE_BATCH = 1000  # documents per call to the fast tokenizer


def read_documents(
    paths: list[str], text_column: str | None = None, encoding: str = "utf-8"
) -> list[str]:
    """The documents of all corpus files, in order. A table file (CSV, TSV, JSONL, JSON,
    Parquet) gives one document per row of its text column; any other file one per line."""
    if not paths:
        raise ConfigError("no corpus given; pass --corpus FILE (one document per line)")
    documents: list[str] = []
    for path in expand(paths):
        if not path.exists():
            raise DataError(f"{path}: corpus file not found; check the path")
        if path.is_dir():
            raise DataError(f"{path}: is a folder; pass corpus files, e.g. --corpus {path}/*.txt")
        if FORMATS.get(path.suffix.lower(), "text") == "text":
            table = read_lines(decode_file(path, encoding), str(path))
            column = "text"
        else:
            table = read_table(path, encoding)
            column = _text_column(table.columns, text_column, str(path))
        found = [str(row[column]).strip() for row in table.rows if _present(row.get(column))]
        if not found:
            raise DataError(f"{path}: no text in this file; expected one document per line")
        documents.extend(found)
    return documents


def expand(paths: list[str]) -> list[Path]:
    """Paths as given; a quoted pattern (``'corpus/*.txt'``) is expanded, in sorted order."""
    found: list[Path] = []
    for name in paths:
        if any(c in name for c in "*?[") and not Path(name).exists():
            matches = sorted(glob.glob(name))
            if not matches:
                raise DataError(f"{name}: no file matches this pattern; check the path")
            found.extend(Path(m) for m in matches)
        else:
            found.append(Path(name))
    return found


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _text_column(columns: list[str], wanted: str | None, name: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(
                f"{name}: no column '{wanted}' (columns: {', '.join(columns)}); "
                f"pass the text column with --text-column"
            )
        return wanted
    for candidate in DEFAULT_TEXT_COLUMNS:
        if candidate in columns:
            return candidate
    raise DataError(
        f"{name}: no 'text' or 'sentence' column (columns: {', '.join(columns)}); "
        f"pass the text column with --text-column"
    )


def split_holdout(documents: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(train, held_out)``: a seeded random ``fraction`` of the documents held out whole, so
    no held-out text is ever seen in training."""
    if not 0 < fraction < 1:
        raise ConfigError(
            f"--holdout-fraction {fraction}: expected a share between 0 and 1, e.g. 0.05"
        )
    n_held = round(len(documents) * fraction)
    if n_held < 1 or n_held >= len(documents):
        raise ConfigError(
            f"--holdout-fraction {fraction} of {len(documents)} documents holds out {n_held}; "
            f"expected at least 1 held-out and 1 training document: pass more documents or "
            f"another --holdout-fraction"
        )
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_held])
    train = [d for i, d in enumerate(documents) if i not in held]
    return train, [documents[i] for i in sorted(held)]


@dataclass
class Chunks:
    """Packed token chunks, padded to one width. ``offsets`` (character spans within each
    token's document) are kept for whole-word masking, which finds word pieces by them."""

    input_ids: torch.Tensor  # (n, width) long
    attention_mask: torch.Tensor  # (n, width) long
    special_tokens_mask: torch.Tensor  # (n, width) long: 1 for [CLS]/[SEP]/[PAD]
    offsets: torch.Tensor | None  # (n, width, 2) long

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    def batch(self, idx: list[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        out = {
            "input_ids": self.input_ids[idx],
            "attention_mask": self.attention_mask[idx],
            "special_tokens_mask": self.special_tokens_mask[idx],
        }
        if self.offsets is not None:
            out["offset_mapping"] = self.offsets[idx]
        return out


def pack(tokenizer: Any, documents: list[str], max_length: int, offsets: bool = False) -> Chunks:
    """Tokenize ``documents`` and pack them into chunks of at most ``max_length`` tokens."""
    if max_length < 8:
        raise ConfigError(f"--max-length {max_length}: expected at least 8 tokens, e.g. 128")
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    if cls_id is None or sep_id is None or pad_id is None:
        raise ConfigError(
            "the tokenizer has no [CLS], [SEP] or [PAD] token; masked-LM pretraining needs a "
            "BERT-style tokenizer"
        )
    # Offsets find where words begin, so that no chunk starts inside a word (a slow tokenizer
    # has none: its chunks are cut at any token).
    with_spans = offsets or bool(tokenizer.is_fast)
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    for start in range(0, len(documents), TOKENIZE_BATCH):
        encoded = tokenizer(
            documents[start : start + TOKENIZE_BATCH],
            add_special_tokens=False,
            return_offsets_mapping=with_spans,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        for i, doc_ids in enumerate(encoded["input_ids"]):
            if ids:
                ids.append(sep_id)  # marks the border between two documents
                spans.append((0, 0))
            ids.extend(doc_ids)
            if with_spans:
                spans.extend(tuple(s) for s in encoded["offset_mapping"][i])
    if not ids:
        raise DataError("the corpus has no tokens; expected text, one document per line")
    flat = torch.tensor(ids, dtype=torch.long)
    flat_spans = torch.tensor(spans, dtype=torch.long) if with_spans else None
    bounds = _cut(flat, flat_spans, sep_id, max_length - 2)
    n = len(bounds)
    input_ids = torch.full((n, max_length), pad_id, dtype=torch.long)
    special = torch.ones((n, max_length), dtype=torch.long)
    attention = torch.zeros((n, max_length), dtype=torch.long)
    spans_t = torch.zeros((n, max_length, 2), dtype=torch.long) if offsets else None
    for c, (begin, end) in enumerate(bounds):
        piece = flat[begin:end]
        width = piece.shape[0] + 2
        input_ids[c, 0], input_ids[c, width - 1] = cls_id, sep_id
        input_ids[c, 1 : width - 1] = piece
        attention[c, :width] = 1
        special[c, 1 : width - 1] = (piece == sep_id).long()
        if spans_t is not None and flat_spans is not None:
            spans_t[c, 1 : width - 1] = flat_spans[begin:end]
    return Chunks(input_ids, attention, special, spans_t)


def _cut(
    ids: torch.Tensor, spans: torch.Tensor | None, sep_id: int, body: int
) -> list[tuple[int, int]]:
    """``(begin, end)`` of each chunk: at most ``body`` tokens, ended before a word that would
    not fit (a word longer than a chunk is cut anyway)."""
    n = ids.shape[0]
    if spans is None:
        return [(b, min(b + body, n)) for b in range(0, n, body)]
    starts = torch.ones(n, dtype=torch.bool)  # token i begins a word
    starts[1:] = (spans[1:, 0] != spans[:-1, 1]) | (ids[:-1] == sep_id)
    bounds = []
    begin = 0
    while begin < n:
        end = min(begin + body, n)
        if end < n and not starts[end]:
            back = end
            while back > begin and not starts[back]:
                back -= 1
            end = back if back > begin else end
        bounds.append((begin, end))
        begin = end
    return bounds
