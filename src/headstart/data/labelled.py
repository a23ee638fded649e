"""Labelled examples: rows from a table become (text, label) pairs, checked and counted.

Rows with empty text or label are skipped and counted (or refused with ``strict``); labels
that only appear in eval or test data are refused, since the model could never predict them.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from headstart.data.builtin import bbc_news_splits, is_builtin
from headstart.data.readers import Table, read_table
from headstart.errors import DataError

TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "review", "document")


@dataclass
class LabelledSplit:
    name: str
    texts: list[str]
    labels: list[Any]  # raw labels (str or int), mapped to ids by a LabelSpace
    source: str
    skipped: int = 0
    skipped_where: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class LabelSpace:
    """Class names in a stable order; ids are positions."""

    names: list[str]

    @classmethod
    def from_labels(cls, labels: list[Any]) -> LabelSpace:
        unique = set(labels)
        if all(isinstance(x, int) for x in unique):
            return cls([str(x) for x in sorted(unique)])
        return cls(sorted(str(x) for x in unique))

    def ids(self, labels: list[Any]) -> list[int]:
        index = {name: i for i, name in enumerate(self.names)}
        return [index[str(x)] for x in labels]


def resolve_text_column(table: Table, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in table.columns:
            raise DataError(
                f"{table.path}: no column '{wanted}'; found columns: {', '.join(table.columns)}; "
                f"pass --text-column with one of them"
            )
        return wanted
    for guess in TEXT_COLUMN_GUESSES:
        if guess in table.columns:
            return guess
    raise DataError(
        f"{table.path}: no 'text' or 'sentence' column; found columns: {', '.join(table.columns)}; "
        f"pass --text-column NAME"
    )


def _parse_label(value: Any) -> Any:
    """Labels may be strings or integers; "1" and 1 are the same class."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        try:
            return int(text)
        except ValueError:  # "--1", "²": isdigit() is true but they are not integers
            return text
    return text


def split_from_table(
    table: Table, name: str, text_column: str | None, label_column: str, strict: bool
) -> LabelledSplit:
    column = resolve_text_column(table, text_column)
    if label_column not in table.columns:
        raise DataError(
            f"{table.path}: no label column '{label_column}'; found columns: "
            f"{', '.join(table.columns)}; pass --label-column NAME"
        )
    texts, labels, skipped = [], [], []
    for row, where in zip(table.rows, table.where, strict=True):
        text = row.get(column)
        label = _parse_label(row.get(label_column))
        text_ok = isinstance(text, str) and text.strip() != ""
        if not text_ok or label is None:
            what = "text" if not text_ok else "label"
            if strict:
                raise DataError(
                    f"{table.path} {where}: empty or missing {what} in column "
                    f"'{column if not text_ok else label_column}'; fix the row or drop --strict "
                    f"to skip such rows"
                )
            skipped.append(where)
            continue
        if isinstance(label, float):
            raise DataError(
                f"{table.path} {where}: label {label!r} is a fractional number; classification "
                f"needs class names or integer ids"
            )
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{table.path}: no usable rows (all {len(table)} rows lack text or label)")
    return LabelledSplit(name, texts, labels, table.path, len(skipped), skipped)


def load_split(
    path: str, name: str, text_column: str | None, label_column: str, encoding: str, strict: bool
) -> LabelledSplit:
    table = read_table(path, encoding)
    return split_from_table(table, name, text_column, label_column, strict)


@dataclass
class Splits:
    train: LabelledSplit
    eval: LabelledSplit
    test: LabelledSplit | None
    labels: LabelSpace

    @property
    def skipped(self) -> dict[str, int]:
        out = {"train": self.train.skipped, "eval": self.eval.skipped}
        if self.test is not None:
            out["test"] = self.test.skipped
        return out


def stratified_split(
    split: LabelledSplit, fraction: float, seed: int
) -> tuple[LabelledSplit, LabelledSplit]:
    """Carve an eval split out of ``split``, stratified by label, seeded."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(split.labels):
        by_label.setdefault(str(label), []).append(i)
    held: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        # every class on both sides where it has two examples or more
        n = min(max(round(len(idx) * fraction), 1), len(idx) - 1) if len(idx) >= 2 else 0
        held.extend(idx[:n])
    held_set = set(held)
    keep = [i for i in range(len(split)) if i not in held_set]
    held.sort()

    def take(idx: list[int], name: str) -> LabelledSplit:
        return LabelledSplit(
            name, [split.texts[i] for i in idx], [split.labels[i] for i in idx], split.source
        )

    train = take(keep, "train")
    train.skipped, train.skipped_where = split.skipped, split.skipped_where
    return train, take(held, "eval")


def check_labels(splits: Splits) -> None:
    counts = Counter(str(x) for x in splits.train.labels)
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(
            f"{splits.train.source}: every training row has the label '{only}'; classification "
            f"needs at least two classes (check --label-column)"
        )
    known = set(counts)
    for split in (splits.eval, splits.test):
        if split is None:
            continue
        for i, label in enumerate(split.labels):
            if str(label) not in known:
                raise DataError(
                    f"{split.source}: {split.name} label '{label}' (example {i + 1}) never appears "
                    f"in the training data; training labels are: {', '.join(sorted(known))}"
                )


def load_splits(
    data: str,
    eval_data: str | None = None,
    test_data: str | None = None,
    *,
    text_column: str | None = None,
    label_column: str = "label",
    encoding: str = "utf-8",
    eval_fraction: float = 0.1,
    strict: bool = False,
    seed: int = 42,
) -> Splits:
    """Training, evaluation and optional test data, checked and ready to tokenise."""
    test: LabelledSplit | None = None
    if is_builtin(data):
        builtin = bbc_news_splits()
        train = LabelledSplit("train", *builtin["train"], source=data)
        if test_data is None:
            test = LabelledSplit("test", *builtin["test"], source=f"{data} (test split)")
    else:
        train = load_split(data, "train", text_column, label_column, encoding, strict)
    if eval_data is not None:
        evaluation = load_split(eval_data, "eval", text_column, label_column, encoding, strict)
    else:
        train, evaluation = stratified_split(train, eval_fraction, seed)
        evaluation.source = f"{train.source} ({eval_fraction:.0%} held out)"
    if test_data is not None:
        test = load_split(test_data, "test", text_column, label_column, encoding, strict)
    splits = Splits(train, evaluation, test, LabelSpace.from_labels(train.labels))
    check_labels(splits)
    return splits
