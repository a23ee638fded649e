"""Labelled splits: column choice, skipped rows, label checks and the seeded stratified split."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headstart.data.labelled import (
    LabelledSplit,
    LabelSpace,
    Splits,
    check_labels,
    load_split,
    load_splits,
    split_from_table,
    stratified_split,
)
from headstart.data.readers import Table
from headstart.errors import DataError


def table(columns: list[str], rows: list[dict], path: str = "data.csv") -> Table:
    return Table(path, columns, rows, [f"line {i + 2}" for i in range(len(rows))])


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def balanced(n_per_class: int, classes: list[object]) -> LabelledSplit:
    texts, labels = [], []
    for label in classes:
        for i in range(n_per_class):
            texts.append(f"{label} example {i}")
            labels.append(label)
    return LabelledSplit("train", texts, labels, "data.csv")


# ---------------------------------------------------------------------------------------------
# Columns


def test_text_column_guess_prefers_text_then_sentence() -> None:
    both = table(["sentence", "text", "label"], [{"sentence": "s", "text": "t", "label": "a"}])
    assert split_from_table(both, "train", None, "label", False).texts == ["t"]
    only_sentence = table(["label", "sentence"], [{"sentence": "s", "label": "a"}])
    assert split_from_table(only_sentence, "train", None, "label", False).texts == ["s"]


def test_explicit_text_column_wins_over_guess() -> None:
    t = table(["text", "body", "label"], [{"text": "t", "body": "b", "label": "a"}])
    assert split_from_table(t, "train", "body", "label", False).texts == ["b"]


def test_no_guessable_text_column_lists_found_columns() -> None:
    t = table(["body", "category"], [{"body": "b", "category": "a"}])
    with pytest.raises(DataError) as info:
        split_from_table(t, "train", None, "category", False)
    message = str(info.value)
    assert "data.csv" in message
    assert "found columns: body, category" in message
    assert "--text-column" in message


def test_unknown_text_column_lists_found_columns() -> None:
    t = table(["text", "label"], [{"text": "t", "label": "a"}])
    with pytest.raises(DataError) as info:
        split_from_table(t, "train", "review", "label", False)
    message = str(info.value)
    assert "no column 'review'" in message
    assert "found columns: text, label" in message
    assert "--text-column" in message


def test_unknown_label_column_lists_found_columns() -> None:
    t = table(["text", "sentiment"], [{"text": "t", "sentiment": "a"}])
    with pytest.raises(DataError) as info:
        split_from_table(t, "train", None, "label", False)
    message = str(info.value)
    assert "no label column 'label'" in message
    assert "found columns: text, sentiment" in message
    assert "--label-column" in message


# ---------------------------------------------------------------------------------------------
# Empty rows


ROWS_WITH_GAPS = [
    {"text": "good one", "label": "a"},
    {"text": "", "label": "b"},  # line 3: empty text
    {"text": "  \t ", "label": "a"},  # line 4: blank text
    {"text": "no label", "label": ""},  # line 5: empty label
    {"text": "missing label"},  # line 6: missing label (JSON-like row)
    {"text": None, "label": "a"},  # line 7: null text
    {"text": "good two", "label": "b"},
    {"text": "label is spaces", "label": "   "},  # line 9
]


def test_empty_rows_are_skipped_and_counted() -> None:
    split = split_from_table(
        table(["text", "label"], ROWS_WITH_GAPS), "train", None, "label", False
    )
    assert split.texts == ["good one", "good two"]
    assert split.labels == ["a", "b"]
    assert split.skipped == 6
    assert split.skipped_where == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 9"]
    assert len(split) == 2
    assert split.source == "data.csv"


@pytest.mark.parametrize(
    ("rows", "where", "what", "column"),
    [
        ([{"text": "ok", "label": "a"}, {"text": " ", "label": "a"}], "line 3", "text", "text"),
        ([{"text": "ok", "label": "a"}, {"text": "x", "label": ""}], "line 3", "label", "label"),
        ([{"text": None, "label": "a"}], "line 2", "text", "text"),
    ],
)
def test_strict_refuses_empty_rows_naming_the_row(
    rows: list[dict], where: str, what: str, column: str
) -> None:
    with pytest.raises(DataError) as info:
        split_from_table(table(["text", "label"], rows), "train", None, "label", True)
    message = str(info.value)
    assert message.startswith(f"data.csv {where}: empty or missing {what} in column '{column}'")
    assert "--strict" in message


def test_no_usable_rows() -> None:
    rows = [{"text": "", "label": "a"}, {"text": "x", "label": None}]
    with pytest.raises(DataError, match="no usable rows"):
        split_from_table(table(["text", "label"], rows), "train", None, "label", False)


def test_fractional_labels_mean_regression_unless_classification_is_asked(tmp_path: Path) -> None:
    rows = [["a text", "0.5"], ["b text", "3.8"], ["c text", "5.000"], ["d text", "1"]] * 5
    path = write_csv(tmp_path / "sts.csv", ["text", "label"], rows)
    splits = load_splits(path)
    assert splits.task == "regression"
    assert all(isinstance(x, float) for x in splits.train.labels + splits.eval.labels)
    assert 5.0 in splits.train.labels + splits.eval.labels
    with pytest.raises(DataError, match=r"sts.csv line 2: train label 0\.5 is a fractional number"):
        load_splits(path, task="classification")
    # integer-valued floats stay classes: 1.0 and 1 are one class
    ints = write_csv(tmp_path / "ints.csv", ["text", "label"], [["x", "1.0"], ["y", "0"]] * 5)
    assert load_splits(ints).task == "classification"


def test_pairs_are_read_and_empty_second_texts_skipped(tmp_path: Path) -> None:
    rows = [["first a", "second a", "1"], ["first b", "", "0"], ["first c", "second c", "0"]] * 4
    path = write_csv(tmp_path / "pairs.csv", ["s1", "s2", "label"], rows)
    splits = load_splits(path, text_column="s1", pair_column="s2")
    assert splits.train.pairs is not None and splits.eval.pairs is not None
    assert len(splits.train.pairs) == len(splits.train.texts)
    assert splits.train.skipped == 4
    with pytest.raises(DataError, match="no second-text column 'nope'"):
        load_splits(path, text_column="s1", pair_column="nope")


def test_load_splits_counts_skipped_rows_per_split(tmp_path: Path) -> None:
    train = write_csv(
        tmp_path / "train.csv",
        ["text", "label"],
        [["a1", "a"], ["", "a"], ["b1", "b"], ["a2", "a"], ["b2", "b"], ["x", ""]],
    )
    evaluation = write_csv(tmp_path / "eval.csv", ["text", "label"], [["a", "a"], [" ", "b"]])
    splits = load_splits(train, evaluation)
    assert splits.skipped == {"train": 2, "eval": 1}
    assert splits.train.skipped_where == ["line 3", "line 7"]
    assert splits.eval.skipped_where == ["line 3"]
    with pytest.raises(DataError, match=r"train\.csv line 3: empty or missing text"):
        load_splits(train, evaluation, strict=True)


# ---------------------------------------------------------------------------------------------
# Labels


def test_integer_like_labels_are_one_class() -> None:
    rows = [
        {"text": "a", "label": "1"},
        {"text": "b", "label": 1},
        {"text": "c", "label": " 1 "},
        {"text": "d", "label": 1.0},
        {"text": "e", "label": "0"},
        {"text": "f", "label": 0},
        {"text": "g", "label": "-2"},
    ]
    split = split_from_table(table(["text", "label"], rows), "train", None, "label", False)
    assert split.labels == [1, 1, 1, 1, 0, 0, -2]
    space = LabelSpace.from_labels(split.labels)
    assert space.names == ["-2", "0", "1"]  # integer order, not string order
    assert space.ids(split.labels) == [2, 2, 2, 2, 1, 1, 0]
    assert space.ids(["1", 1]) == [2, 2]


def test_integer_labels_sort_numerically() -> None:
    assert LabelSpace.from_labels([10, 2, 1, 2]).names == ["1", "2", "10"]
    assert LabelSpace.from_labels(["neg", "pos", "neg"]).names == ["neg", "pos"]


def test_label_file_with_string_ints_matches_eval_with_ints(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["text", "label"], [["a", 0], ["b", 1], ["c", 1]])
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 0}\n')
    splits = load_splits(train, str(evaluation))
    assert splits.labels.names == ["0", "1"]
    assert splits.labels.ids(splits.eval.labels) == [1, 0]


@settings(max_examples=50, deadline=None)
@given(label=st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != ""))
def test_any_non_empty_label_is_a_class(label: str) -> None:
    rows = [{"text": "a", "label": label}, {"text": "b", "label": "other"}]
    split = split_from_table(table(["text", "label"], rows), "train", None, "label", False)
    assert len(split.labels) == 2
    space = LabelSpace.from_labels(split.labels)
    assert len(space.ids(split.labels)) == 2


@pytest.mark.parametrize("label", ["--1", "²", "1²", "-"])
def test_labels_that_only_look_numeric_stay_strings(label: str) -> None:
    rows = [{"text": "a", "label": label}, {"text": "b", "label": "x"}]
    split = split_from_table(table(["text", "label"], rows), "train", None, "label", False)
    assert split.labels == [label, "x"]


def test_single_class_refused() -> None:
    train = balanced(5, ["only"])
    splits = Splits(train, balanced(1, ["only"]), None, LabelSpace.from_labels(train.labels))
    with pytest.raises(DataError) as info:
        check_labels(splits)
    message = str(info.value)
    assert "every training row has the label 'only'" in message
    assert "at least two classes" in message


def test_single_class_refused_by_load_splits(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "t.csv", ["text", "label"], [[f"x{i}", "same"] for i in range(10)])
    with pytest.raises(DataError, match="label 'same'; classification needs at least two"):
        load_splits(train)


@pytest.mark.parametrize("which", ["eval", "test"])
def test_label_unseen_in_training_refused(tmp_path: Path, which: str) -> None:
    train = write_csv(
        tmp_path / "train.csv", ["text", "label"], [["a", "pos"], ["b", "neg"], ["c", "pos"]]
    )
    other = write_csv(
        tmp_path / f"{which}.csv", ["text", "label"], [["d", "pos"], ["e", "neutral"]]
    )
    kwargs = {"eval_data": other} if which == "eval" else {"test_data": other}
    with pytest.raises(DataError) as info:
        load_splits(train, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{other} line 3: {which} label 'neutral' never appears")
    assert "training labels are: neg, pos" in message


def test_check_labels_accepts_known_labels() -> None:
    train = balanced(3, ["a", "b"])
    check_labels(Splits(train, balanced(1, ["b"]), balanced(1, ["a"]), LabelSpace(["a", "b"])))


# ---------------------------------------------------------------------------------------------
# Stratified split


def test_stratified_split_is_seeded() -> None:
    split = balanced(20, ["a", "b", "c"])
    first = stratified_split(split, 0.25, seed=7)
    again = stratified_split(split, 0.25, seed=7)
    other = stratified_split(split, 0.25, seed=8)
    assert first[0].texts == again[0].texts
    assert first[1].texts == again[1].texts
    assert first[1].texts != other[1].texts


def test_stratified_split_partitions_and_keeps_every_class() -> None:
    split = balanced(10, ["a", "b", "c", "d"])
    train, held = stratified_split(split, 0.2, seed=0)
    assert sorted(train.texts + held.texts) == sorted(split.texts)
    assert not set(train.texts) & set(held.texts)
    assert Counter(held.labels) == {"a": 2, "b": 2, "c": 2, "d": 2}
    assert Counter(train.labels) == {"a": 8, "b": 8, "c": 8, "d": 8}
    assert (train.name, held.name) == ("train", "eval")
    # pairs stay together
    pairs = dict(zip(split.texts, split.labels, strict=True))
    for part in (train, held):
        assert all(pairs[t] == y for t, y in zip(part.texts, part.labels, strict=True))


def test_stratified_split_keeps_the_skipped_count_on_train() -> None:
    split = balanced(5, ["a", "b"])
    split.skipped, split.skipped_where = 2, ["line 3", "line 9"]
    train, held = stratified_split(split, 0.2, seed=1)
    assert (train.skipped, train.skipped_where) == (2, ["line 3", "line 9"])
    assert held.skipped == 0


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=30), min_size=2, max_size=6),
    fraction=st.floats(min_value=0.01, max_value=0.99),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_stratified_split_properties(counts: list[int], fraction: float, seed: int) -> None:
    texts, labels = [], []
    for c, n in enumerate(counts):
        texts += [f"class {c} text {i}" for i in range(n)]
        labels += [c] * n
    split = LabelledSplit("train", texts, labels, "data.csv")
    train, held = stratified_split(split, fraction, seed)
    assert sorted(train.texts + held.texts) == sorted(texts)
    assert (train.texts, held.texts) == tuple(
        p.texts for p in stratified_split(split, fraction, seed)
    )
    for c, n in enumerate(counts):
        in_train, in_held = train.labels.count(c), held.labels.count(c)
        if n >= 2:  # every class with two or more examples is on both sides
            assert in_train >= 1
            assert in_held >= 1
        else:
            assert (in_train, in_held) == (1, 0)


def test_load_splits_holds_out_a_stratified_eval_fraction(tmp_path: Path) -> None:
    rows = [[f"text {i}", "even" if i % 2 == 0 else "odd"] for i in range(40)]
    data = write_csv(tmp_path / "d.csv", ["text", "label"], rows)
    splits = load_splits(data, eval_fraction=0.25, seed=3)
    assert (len(splits.train), len(splits.eval)) == (30, 10)
    assert Counter(splits.eval.labels) == {"even": 5, "odd": 5}
    assert splits.test is None
    assert "held out" in splits.eval.source
    assert load_splits(data, eval_fraction=0.25, seed=3).eval.texts == splits.eval.texts


def test_load_splits_text_column_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_bytes("body\ttopic\ncaf\xe9\tx\nth\xe9\ty\nbar\tx\nfoo\ty\n".encode("latin-1"))
    splits = load_splits(
        str(path), text_column="body", label_column="topic", encoding="latin-1", eval_fraction=0.5
    )
    assert sorted(splits.train.texts + splits.eval.texts) == ["bar", "café", "foo", "thé"]
    with pytest.raises(DataError, match=r"line 2: .*--encoding"):
        load_splits(str(path), text_column="body", label_column="topic")


# ---------------------------------------------------------------------------------------------
# Builtin dataset


def test_bbc_news_builtin() -> None:
    pytest.importorskip("sklearn")
    splits = load_splits("bbc-news", eval_fraction=0.1, seed=42)
    assert splits.test is not None
    total = len(splits.train) + len(splits.eval) + len(splits.test)
    assert total == 2225
    assert len(splits.test) == 445  # the fixed 80/20 test split
    assert len(splits.train) + len(splits.eval) == 1780
    assert (len(splits.train), len(splits.eval)) == (1602, 178)
    assert splits.labels.names == ["business", "entertainment", "politics", "sport", "tech"]
    assert set(splits.test.labels) == set(splits.labels.names)
    assert set(splits.eval.labels) == set(splits.labels.names)
    assert splits.skipped == {"train": 0, "eval": 0, "test": 0}
    assert all(t.strip() for t in splits.train.texts)
    # the test split is fixed: it does not move with --seed
    again = load_splits("bbc-news", eval_fraction=0.2, seed=1)
    assert again.test is not None
    assert again.test.texts == splits.test.texts
    assert len(again.train) + len(again.eval) == 1780
    assert abs(len(again.eval) - 356) <= 5  # 20% rounded per class


@pytest.mark.parametrize(
    ("header", "label"),
    [(["sentence1", "sentence2", "score"], "score"), (["Quality", "#1 String", "#2 String"], None)],
)
def test_sentence_pair_columns_and_label_column_are_guessed(
    tmp_path: Path, header: list[str], label: str | None
) -> None:
    rows = [["a cat", "a cat sits", "1"], ["a dog", "stocks fell", "0"]] * 3
    if header[0] == "Quality":
        rows = [[r[2], r[0], r[1]] for r in rows]
    path = write_csv(tmp_path / "pairs.csv", header, rows)
    split = load_split(path, "train", None, label, "utf-8", False)
    assert split.texts[0] == "a cat" and split.pairs is not None and split.pairs[1] == "stocks fell"
    assert split.labels[:2] == [1, 0]
