"""Labelled examples: rows from a table become (text, label) pairs, checked and counted.

Rows with empty text or label are skipped and counted (or refused with ``strict``); labels
that only appear in eval or test data are refused, since the model could never predict them.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headstart.config.names import TASK_NAMES
from headstart.data.builtin import bbc_news_splits, is_builtin
from headstart.data.readers import Table, read_table
from headstart.data.tagged import entity_scheme, looks_tagged, read_tagged, to_bio
from headstart.errors import DataError

TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "review", "document")
LABEL_COLUMN_GUESSES = ("label", "labels", "score", "target", "class", "category", "Quality")
# The column pairs of common sentence-pair datasets: STS-B/GLUE, MRPC, QQP, NLI, and the
# tokenizer's own argument names.
PAIR_COLUMN_GUESSES = (
    ("sentence1", "sentence2"),
    ("#1 String", "#2 String"),
    ("question1", "question2"),
    ("premise", "hypothesis"),
    ("text_a", "text_b"),
    ("text", "text_pair"),
)


def guess_pair_columns(columns: list[str]) -> tuple[str, str] | None:
    """Sentence-pair columns by their usual names, when no text column was given."""
    return next((p for p in PAIR_COLUMN_GUESSES if p[0] in columns and p[1] in columns), None)


@dataclass
class LabelledSplit:
    name: str
    texts: list[Any]  # strings; for token classification, sentences as lists of words
    labels: list[Any]  # raw labels (str or int), mapped to ids by a LabelSpace; tag lists
    source: str
    skipped: int = 0
    skipped_where: list[str] = field(default_factory=list)
    pairs: list[str] | None = None  # second texts of sentence pairs
    where: list[str] | None = None  # the place of each example, where errors need it

    def __len__(self) -> int:
        return len(self.texts)

    def place(self, i: int) -> str:
        """Where example ``i`` came from, for error messages: "line 12", or "example 3"."""
        return self.where[i] if self.where is not None else f"example {i + 1}"


@dataclass
class LabelSpace:
    """Class names in a stable order; ids are positions."""

    names: list[str]

    @classmethod
    def from_labels(cls, labels: list[Any]) -> LabelSpace:
        if any(isinstance(x, list) for x in labels):  # multi-label: the union of all lists
            return cls(sorted({name for x in labels for name in _as_list(x)}))
        unique = set(labels)
        if all(isinstance(x, int) for x in unique):
            return cls([str(x) for x in sorted(unique)])
        return cls(sorted(str(x) for x in unique))

    def ids(self, labels: list[Any]) -> list[int]:
        index = {name: i for i, name in enumerate(self.names)}
        return [index[str(x)] for x in labels]


def _as_list(label: Any) -> list[str]:
    return [str(x) for x in label] if isinstance(label, list) else [str(label)]


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


def resolve_label_column(table: Table, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in table.columns:
            raise DataError(
                f"{table.path}: no label column '{wanted}'; found columns: "
                f"{', '.join(table.columns)}; pass --label-column NAME"
            )
        return wanted
    for guess in LABEL_COLUMN_GUESSES:
        if guess in table.columns:
            return guess
    raise DataError(
        f"{table.path}: no 'label' column; found columns: {', '.join(table.columns)}; "
        f"pass --label-column NAME"
    )


def _parse_label(value: Any, separator: str | None = None) -> Any:
    """Labels may be strings or integers ("1" and 1 are the same class), floats (regression) or
    lists (multi-label: a JSON list, or a string split on ``separator``)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return sorted({str(x).strip() for x in value if str(x).strip()})
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return _parse_label(parsed)
    if separator is not None and isinstance(value, str):
        return _parse_label([part for part in value.split(separator)])
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
    if any(c in text for c in ".eE"):  # "3.8", "5.000", "1e-3": numbers for regression
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number):
            return int(number) if number.is_integer() and "." not in text else number
    return text


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def split_from_table(
    table: Table,
    name: str,
    text_column: str | None,
    label_column: str | None,
    strict: bool,
    pair_column: str | None = None,
    label_separator: str | None = None,
) -> LabelledSplit:
    guessed = guess_pair_columns(table.columns) if text_column is None else None
    if guessed is not None and pair_column in (None, guessed[1]):
        text_column, pair_column = guessed
    column = resolve_text_column(table, text_column)
    label_column = resolve_label_column(table, label_column)
    if pair_column is not None and pair_column not in table.columns:
        raise DataError(
            f"{table.path}: no second-text column '{pair_column}'; found columns: "
            f"{', '.join(table.columns)}; pass --text-pair-column NAME"
        )
    texts, pairs, labels, skipped, places = [], [], [], [], []
    for row, where in zip(table.rows, table.where, strict=True):
        text = row.get(column)
        pair = row.get(pair_column) if pair_column else None
        label = _parse_label(row.get(label_column), label_separator)
        problem = None
        if not _has_text(text):
            problem = ("text", column)
        elif pair_column and not _has_text(pair):
            problem = ("second text", pair_column)
        elif label is None:
            problem = ("label", label_column)
        if problem:
            if strict:
                raise DataError(
                    f"{table.path} {where}: empty or missing {problem[0]} in column "
                    f"'{problem[1]}'; fix the row or drop --strict to skip such rows"
                )
            skipped.append(where)
            continue
        texts.append(text)
        pairs.append(pair)
        labels.append(label)
        places.append(where)
    if not texts:
        raise DataError(f"{table.path}: no usable rows (all {len(table)} rows lack text or label)")
    split = LabelledSplit(name, texts, labels, table.path, len(skipped), skipped, where=places)
    split.pairs = pairs if pair_column else None
    return split


def load_split(
    path: str,
    name: str,
    text_column: str | None,
    label_column: str | None,
    encoding: str,
    strict: bool,
    pair_column: str | None = None,
    label_separator: str | None = None,
) -> LabelledSplit:
    table = read_table(path, encoding)
    return split_from_table(
        table, name, text_column, label_column, strict, pair_column, label_separator
    )


@dataclass
class Splits:
    train: LabelledSplit
    eval: LabelledSplit
    test: LabelledSplit | None
    labels: LabelSpace  # empty for regression
    task: str = "classification"
    converted_tags: int = 0  # token data: IOB1 tags rewritten as BIO

    @property
    def skipped(self) -> dict[str, int]:
        out = {"train": self.train.skipped, "eval": self.eval.skipped}
        if self.test is not None:
            out["test"] = self.test.skipped
        return out


def stratified_split(
    split: LabelledSplit, fraction: float, seed: int, stratify: bool = True
) -> tuple[LabelledSplit, LabelledSplit]:
    """Carve an eval split out of ``split``, stratified by label (unless regression), seeded."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(split.labels):
        by_label.setdefault(str(label) if stratify else "", []).append(i)
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
        part = LabelledSplit(
            name, [split.texts[i] for i in idx], [split.labels[i] for i in idx], split.source
        )
        if split.pairs is not None:
            part.pairs = [split.pairs[i] for i in idx]
        if split.where is not None:
            part.where = [split.where[i] for i in idx]
        return part

    train = take(keep, "train")
    train.skipped, train.skipped_where = split.skipped, split.skipped_where
    return train, take(held, "eval")


def _is_number(label: Any) -> bool:
    return isinstance(label, int | float) and not isinstance(label, bool)


def detect_task(train: LabelledSplit, wanted: str | None) -> str:
    """Lists mean multi-label, float labels regression, anything else classification (token
    data is recognised from its file before this). ``wanted`` wins."""
    if wanted is not None:
        if wanted not in TASKS:
            raise DataError(f"unknown task '{wanted}'; choose one of: {', '.join(TASKS)}")
        return wanted
    if any(isinstance(x, list) for x in train.labels):
        return "multilabel"
    numeric = all(_is_number(x) for x in train.labels)
    fractional = any(isinstance(x, float) and not x.is_integer() for x in train.labels)
    return "regression" if numeric and fractional else "classification"


def to_regression(split: LabelledSplit) -> None:
    for i, label in enumerate(split.labels):
        if not _is_number(label):
            raise DataError(
                f"{split.source} {split.place(i)}: {split.name} label {label!r} is not a number; "
                f"regression needs numeric labels (or pass --task classification)"
            )
    split.labels = [float(x) for x in split.labels]


def check_regression(splits: Splits) -> None:
    for split in (splits.train, splits.eval, splits.test):
        if split is not None:
            to_regression(split)
    if len(set(splits.train.labels)) < 2:
        raise DataError(f"{splits.train.source}: every training target is the same value")


def check_multilabel(splits: Splits) -> None:
    for split in (splits.train, splits.eval, splits.test):
        if split is not None:
            split.labels = [_as_list(x) for x in split.labels]
    known = {name for x in splits.train.labels for name in x}
    if len(known) < 2:
        raise DataError(
            f"{splits.train.source}: multi-label data needs at least two different labels, "
            f"found {sorted(known)}"
        )
    for split in (splits.eval, splits.test):
        for i, label in enumerate(split.labels if split is not None else []):
            unseen = [x for x in label if x not in known]
            if unseen:
                raise DataError(
                    f"{split.source} {split.place(i)}: {split.name} label '{unseen[0]}' never "
                    f"appears in the training data"
                )


def check_labels(splits: Splits) -> None:
    for split in (splits.train, splits.eval, splits.test):
        if split is None:
            continue
        # 1.0 and 1 are the same class
        split.labels = [
            int(x) if isinstance(x, float) and x.is_integer() else x for x in split.labels
        ]
        for i, label in enumerate(split.labels):
            if isinstance(label, list):
                raise DataError(
                    f"{split.source} {split.place(i)}: {split.name} label {label!r} is a list; "
                    f"classification needs one label per row (pass --task multilabel for lists)"
                )
            if isinstance(label, float):
                raise DataError(
                    f"{split.source} {split.place(i)}: {split.name} label {label!r} is a "
                    f"fractional number; classification needs class names or integer ids "
                    f"(pass --task regression for numeric targets)"
                )
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
                    f"{split.source} {split.place(i)}: {split.name} label '{label}' never appears "
                    f"in the training data; training labels are: {', '.join(sorted(known))}"
                )


@dataclass(frozen=True)
class LabelRules:
    """How one task type's labels are checked once read. Data sits below the tasks that are
    built on it, so the rules are kept here by task name (a test keeps the names equal to
    ``config.names.TASK_NAMES`` and the task registry's)."""

    check: Callable[[Splits], None] | None  # None: word tags, checked as they are read
    stratify: bool = False  # hold the eval rows out per class
    classes: bool = True  # the training labels name the classes (the split's LabelSpace)
    tagged: bool = False  # word tags, from a tagged file (``load_tagged_splits``)


LABEL_RULES = {
    "classification": LabelRules(check_labels, stratify=True),
    "multilabel": LabelRules(check_multilabel),
    "regression": LabelRules(check_regression, classes=False),
    "tokens": LabelRules(None, tagged=True),
}
TASKS = TASK_NAMES


def _reads_tags(data: str, task: str | None) -> bool:
    """Word tags: the task says so, or (none given) the file looks tagged."""
    if task is not None:
        return task in LABEL_RULES and LABEL_RULES[task].tagged
    return not is_builtin(data) and looks_tagged(data)


def load_splits(
    data: str,
    eval_data: str | None = None,
    test_data: str | None = None,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    eval_fraction: float = 0.1,
    strict: bool = False,
    seed: int = 42,
    pair_column: str | None = None,
    task: str | None = None,
    label_separator: str | None = None,
    tag_column: str | None = None,
) -> Splits:
    """Training, evaluation and optional test data, checked and ready to tokenise."""
    if _reads_tags(data, task):
        return load_tagged_splits(
            data, eval_data, test_data, tag_column, encoding, eval_fraction, seed
        )
    test: LabelledSplit | None = None
    options = (text_column, label_column, encoding, strict, pair_column, label_separator)
    if is_builtin(data):
        builtin = bbc_news_splits()
        train = LabelledSplit("train", *builtin["train"], source=data)
        if test_data is None:
            test = LabelledSplit("test", *builtin["test"], source=f"{data} (test split)")
    else:
        train = load_split(data, "train", *options)
    task = detect_task(train, task)
    rules = LABEL_RULES[task]
    if eval_data is not None:
        evaluation = load_split(eval_data, "eval", *options)
    else:
        train, evaluation = stratified_split(train, eval_fraction, seed, stratify=rules.stratify)
        evaluation.source = f"{train.source} ({eval_fraction:.0%} held out)"
    if test_data is not None:
        test = load_split(test_data, "test", *options)
    splits = Splits(train, evaluation, test, LabelSpace([]), task)
    if rules.check is not None:
        rules.check(splits)
    if rules.classes:
        splits.labels = LabelSpace.from_labels(train.labels)
    return splits


# -- token classification ---------------------------------------------------------------------
def load_tagged_split(
    path: str, name: str, tag_column: str | None, encoding: str
) -> tuple[LabelledSplit, int]:
    """Sentences and BIO tags of one file, and how many IOB1 tags were converted."""
    if is_builtin(path):
        raise DataError(f"{path}: a builtin text-classification dataset, not token data")
    sentences, tags, where = read_tagged(path, tag_column, encoding)
    converted = 0
    if entity_scheme(tags):
        for i, sentence_tags in enumerate(tags):
            tags[i], changed = to_bio(sentence_tags)
            converted += changed
    return LabelledSplit(name, sentences, tags, path, where=where), converted


def load_tagged_splits(
    data: str,
    eval_data: str | None,
    test_data: str | None,
    tag_column: str | None,
    encoding: str,
    eval_fraction: float,
    seed: int,
) -> Splits:
    train, converted = load_tagged_split(data, "train", tag_column, encoding)
    if eval_data is not None:
        evaluation, n = load_tagged_split(eval_data, "eval", tag_column, encoding)
        converted += n
    else:
        train, evaluation = stratified_split(train, eval_fraction, seed, stratify=False)
        evaluation.source = f"{train.source} ({eval_fraction:.0%} held out)"
    test = None
    if test_data is not None:
        test, n = load_tagged_split(test_data, "test", tag_column, encoding)
        converted += n
    seen = {t for sentence in train.labels for t in sentence}
    entities = entity_scheme(train.labels)
    if entities:  # every type can begin and continue an entity, whichever the data showed
        kinds = {t[2:] for t in seen if t != "O"}
        seen = {"O"} | {f"{p}-{k}" for k in kinds for p in "BI"}
    if len(seen) < 2:
        raise DataError(f"{data}: every word has the tag {sorted(seen)}; nothing to learn")
    for split in (evaluation, test):
        for i, sentence_tags in enumerate(split.labels if split is not None else []):
            unseen = [t for t in sentence_tags if t not in seen]
            if unseen:
                place = split.where[i] if split.where else f"sentence {i + 1}"
                raise DataError(
                    f"{split.source} {place}: tag '{unseen[0]}' never appears in the training "
                    f"data; the model can only predict tags it was trained on"
                )
    splits = Splits(train, evaluation, test, LabelSpace(sorted(seen)), "tokens")
    splits.converted_tags = converted
    return splits
