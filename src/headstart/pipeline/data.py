"""Stage 2, read data: the labelled splits a config names, with ``--train-size`` and
``--pair-swap`` applied and skipped rows reported."""

from __future__ import annotations

from headstart.config import FitConfig
from headstart.core.reporting import Reporter
from headstart.data.labelled import (
    LABEL_RULES,
    LabelledSplit,
    Splits,
    load_splits,
    stratified_split,
)
from headstart.errors import ConfigError
from headstart.tasks.pairs import pair_encoding


def read_data(config: FitConfig, reporter: Reporter) -> Splits:
    """:func:`read_splits`, with a warning for each split that skipped rows."""
    splits = read_splits(config)
    for split in splits_by_name(splits).values():
        if split.skipped:
            places = ", ".join(split.skipped_where[:5]) + (" …" if split.skipped > 5 else "")
            reporter.warn(
                f"skipped {split.skipped} {split.name} rows with empty text or label "
                f"({places}); --strict refuses them instead"
            )
    return splits


def read_splits(config: FitConfig) -> Splits:
    """The labelled splits ``config`` names, with ``--train-size`` applied."""
    splits = load_splits(
        config.data,
        config.eval_data,
        config.test_data,
        text_column=config.text_column,
        label_column=config.label_column,
        encoding=config.encoding,
        eval_fraction=config.eval_fraction,
        strict=config.strict,
        seed=config.seed,
        pair_column=config.text_pair_column,
        task=config.task,
        label_separator=config.label_separator,
        tag_column=config.tag_column,
    )
    if config.train_size is not None:
        subsample_train(splits, config.train_size, config.seed)
    if bi_encoder(config) and splits.train.pairs is None:
        raise ConfigError(
            "--pair-encoding bi needs sentence pairs: name the second text with --text-pair-column"
        )
    if config.pair_swap:
        swap_pairs(splits.train)
    return splits


def bi_encoder(config: FitConfig) -> bool:
    """Whether the two texts of a pair are encoded apart (``--pair-encoding bi``). The one
    place the pipeline reads the option: the rest asks this."""
    return pair_encoding(config.pair_encoding).apart


def swap_pairs(split: LabelledSplit) -> None:
    """Add every pair the other way round (text ↔ pair, same label): a symmetric task learns
    that the order does not matter, from twice the examples."""
    if split.pairs is None:
        raise ConfigError(
            "--pair-swap needs sentence pairs: name the second text with --text-pair-column"
        )
    texts, pairs = list(split.texts), list(split.pairs)
    split.texts, split.pairs = texts + pairs, pairs + texts
    split.labels = list(split.labels) * 2
    if split.where is not None:
        split.where = split.where + [f"{w} (swapped)" for w in split.where]


def subsample_train(splits: Splits, size: int, seed: int) -> None:
    """Keep a stratified, seeded ``size`` of the training examples (learning curves)."""
    n = len(splits.train)
    if size >= n:
        return
    if size < len(splits.labels.names):
        raise ConfigError(
            f"--train-size {size} is smaller than the number of classes "
            f"({len(splits.labels.names)})"
        )
    stratify = LABEL_RULES[splits.task].stratify  # as the eval split is drawn
    _, subset = stratified_split(splits.train, size / n, seed, stratify=stratify)
    subset.name, subset.skipped = "train", splits.train.skipped
    splits.train = subset


def splits_by_name(splits: Splits) -> dict[str, LabelledSplit]:
    named = {"train": splits.train, "eval": splits.eval, "test": splits.test}
    return {name: split for name, split in named.items() if split is not None}
