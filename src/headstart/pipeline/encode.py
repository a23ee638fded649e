"""Stage 5, encode: token ids and training targets of every split, as the task encodes them
(token tasks: words into windows, with case markers where they help)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.data.batching import Encoded
from headstart.data.labelled import Splits
from headstart.pipeline.data import bi_encoder, splits_by_name
from headstart.tasks import Task


@dataclass
class Encoding:
    encoded: dict[str, Encoded]  # by split name
    targets: dict[str, Any]
    markers: tuple[int, int] | None  # case marker token ids, where they are put in

    @property
    def median_tokens(self) -> float:
        """Of the training rows: what the training precision is chosen by."""
        return float(np.median(self.encoded["train"].lengths))


def encode_data(
    config: FitConfig,
    splits: Splits,
    task: Task,
    tokenizer: Any,
    encoder_frozen: bool,
    reporter: Reporter,
) -> Encoding:
    markers = task.case_markers(tokenizer, config.case_markers, encoder_frozen)
    if markers is not None:
        reporter.info(
            "case markers: a marker token before capitalised and all-capitals words (the "
            "tokenizer lower-cases them); --no-case-markers turns this off"
        )
    apart = bi_encoder(config)
    encoded: dict[str, Encoded] = {}
    targets: dict[str, Any] = {}
    for name, split in splits_by_name(splits).items():
        encoded[name], targets[name] = task.encode_split(
            split, tokenizer, config.max_length, apart, markers
        )
    for note in task.encoding_notes(splits.train, encoded["train"], config.max_length):
        reporter.info(note)
    return Encoding(encoded, targets, markers)
