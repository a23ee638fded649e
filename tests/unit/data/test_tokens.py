"""Token classification: CoNLL and JSONL readers, IOB1 → BIO, sub-word alignment, windows,
entity metrics, and fit → predict → evaluate on a tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import headstart
from headstart.data.labelled import load_splits
from headstart.data.tagged import bio_entities, is_conll_file, read_conll, to_bio
from headstart.data.windows import case_marker_ids, encode_words, plan_windows
from headstart.errors import DataError
from headstart.models.source import packaged_minilm_dir
from headstart.tasks.metrics import tagging_metrics

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP I-NP I-LOC
1996-08-22 CD I-NP O
"""


def test_conll_reader_handles_docstart_blank_lines_and_tag_column(tmp_path: Path) -> None:
    path = tmp_path / "eng.train"  # no known extension: recognised by its columns
    path.write_text(CONLL)
    assert is_conll_file(path)
    sentences, tags, where = read_conll(path)
    assert sentences == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "1996-08-22"],
    ]
    assert tags[0] == ["I-ORG", "O", "I-MISC", "O", "O"]
    assert where == ["line 3", "line 9", "line 12"]
    _, chunks, _ = read_conll(path, tag_column="2")
    assert chunks[1] == ["I-NP", "I-NP"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("EU NNP I-ORG\nrejects O\n", "line 2: 2 columns where earlier lines have 3"),
        ("EU I-ORG\nrejects\n", "line 2: one column only"),
    ],
)
def test_conll_reader_names_the_bad_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.conll"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_conll(path)


def test_tag_column_out_of_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.conll"
    path.write_text("EU NNP I-ORG\n")
    with pytest.raises(DataError, match="--tag-column 5 is not a tag column"):
        read_conll(path, tag_column="5")


def test_iob1_becomes_bio_and_bio_is_unchanged() -> None:
    assert to_bio(["I-ORG", "O", "I-PER", "I-PER", "B-PER", "I-LOC"]) == (
        ["B-ORG", "O", "B-PER", "I-PER", "B-PER", "B-LOC"],
        3,
    )
    bio = ["B-ORG", "I-ORG", "O", "B-PER", "B-PER"]
    assert to_bio(bio) == (bio, 0)


def test_entities_from_bio() -> None:
    assert bio_entities(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 2),
        ("LOC", 3, 4),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
    ]


def test_entity_metrics_follow_conlleval() -> None:
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    m = tagging_metrics(true, pred, entities=True)
    assert (m["precision"], m["recall"], m["f1"]) == (pytest.approx(2 / 3, abs=1e-4),) * 3
    assert m["per_type"]["PER"]["f1"] == 1.0 and m["per_type"]["LOC"]["recall"] == 0.0
    assert m["accuracy"] == pytest.approx(5 / 6, abs=1e-4)


def test_jsonl_tokens_and_tags_with_mismatched_lengths_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [
        {"tokens": ["Peter", "runs"], "tags": ["B-PER", "O"]},
        {"tokens": ["in", "Paris", "today"], "tags": ["O", "B-LOC"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"train.jsonl line 2: 2 tags for 3 tokens"):
        load_splits(str(path))


def test_eval_tag_never_seen_in_training_is_refused(tmp_path: Path) -> None:
    train = tmp_path / "train.conll"
    train.write_text("Peter B-PER\nruns O\n\nAnna B-PER\n")
    dev = tmp_path / "dev.conll"
    dev.write_text("in O\n\nParis B-LOC\n")
    with pytest.raises(DataError, match=r"dev.conll line 3: tag 'B-LOC' never appears"):
        load_splits(str(train), str(dev))


def test_first_sub_token_alignment(tokenizer) -> None:
    sentences = [["Blackburn", "rejects", "unbelievably", "EU"]]
    windows = encode_words(tokenizer, sentences, 64)
    ids = windows.encoded.columns["input_ids"][0]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    firsts = [pieces[p] for p in windows.positions[0]]
    assert len(firsts) == 4 and not any(f.startswith("##") for f in firsts)
    assert pieces[windows.positions[0][0]] == "blackburn"[: len(firsts[0])]


def test_plan_windows_covers_every_word_once_within_budget() -> None:
    counts = [1, 3, 2, 1, 4, 1, 1, 2, 2, 1, 3, 1]
    windows = plan_windows(counts, budget=6)
    scored = [i for _, first, end in windows for i in range(first, end)]
    assert scored == list(range(len(counts)))
    for start, first, end in windows:
        assert start <= first < end and sum(counts[start:end]) <= 6
    assert any(start < first for start, first, _ in windows)  # left context is used


def test_long_sentences_are_windowed_not_truncated(tokenizer) -> None:
    sentence = [f"word{i}" for i in range(40)]
    windows = encode_words(tokenizer, [sentence, ["short"]], max_length=16)
    assert max(windows.encoded.lengths) <= 16
    assert windows.sentence_of.count(0) > 1 and windows.sentence_of[-1] == 1
    covered = [i for s, first, end in windows.words if s == 0 for i in range(first, end)]
    assert covered == list(range(40))


def test_case_markers_go_before_capitalised_words_and_keep_word_positions(tokenizer) -> None:
    markers = case_marker_ids(tokenizer)  # minilm lower-cases: "Paris" and "paris" read alike
    assert markers is not None
    sentence = ["EU", "rejects", "German", "call", "unbelievably", "McDonald", "3M"]
    plain = encode_words(tokenizer, [sentence], 64)
    marked = encode_words(tokenizer, [sentence], 64, markers)
    plain_pieces = tokenizer.convert_ids_to_tokens(plain.encoded.columns["input_ids"][0])
    pieces = tokenizer.convert_ids_to_tokens(marked.encoded.columns["input_ids"][0])
    # the tag of each word is still read at its own first sub-token, right after its marker
    assert [pieces[p] for p in marked.positions[0]] == [plain_pieces[p] for p in plain.positions[0]]
    before = [pieces[p - 1] for p in marked.positions[0]]
    assert before[:4] == ["[unused2]", "eu", "[unused1]", "german"]
    assert before[5] == "[unused1]" and before[6] != "[unused1]"  # "3M" starts with a digit
    assert len(pieces) == len(plain_pieces) + 3
    # windows budget the markers too: nothing is cut, every window fits
    long = [f"Word{i}" for i in range(40)]
    windows = encode_words(tokenizer, [long], 16, markers)
    assert max(windows.encoded.lengths) <= 16
    assert [i for _, first, end in windows.words for i in range(first, end)] == list(range(40))
    cased = AutoTokenizer.from_pretrained(packaged_minilm_dir(), do_lower_case=False)
    assert case_marker_ids(cased) is None  # a tokenizer that keeps case needs no markers


def _ner_file(path: Path, n: int) -> Path:
    names = ["Peter", "Anna", "Maria", "John"]
    places = ["Paris", "Berlin", "London", "Rome"]
    blocks = []
    for i in range(n):
        person, place = names[i % 4], places[(i // 4) % 4]
        words = [(person, "I-PER"), ("lives", "O"), ("in", "O"), (place, "I-LOC"), (".", "O")]
        blocks.append("\n".join(f"{w} NNP {t}" for w, t in words))
    path.write_text("\n\n".join(blocks) + "\n")
    return path


@pytest.mark.parametrize("strategy", ["full", "partial", "head"])
def test_fit_predict_evaluate_tokens(tiny_model: str, tmp_path: Path, strategy: str) -> None:
    train = _ner_file(tmp_path / "train.conll", 48)
    result = headstart.fit(
        data=str(train), model=tiny_model, strategy=strategy, epochs=3, batch_size=8,
        max_length=32, output=str(tmp_path / "run"), quiet=True, lr=2e-3, head_lr=2e-2,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    m = result.metrics
    assert m["task"] == "tokens" and m["labels"] == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    assert set(m["eval"]) >= {"precision", "recall", "f1", "per_type", "accuracy"}
    # by default where the (minilm) tokenizer lower-cases and the encoder learns to read them
    assert m.get("case_markers") is (None if strategy == "head" else True)
    if strategy == "head":
        assert m["trainable_params"] == 32 * 5 + 5
    report = (result.run_dir / "report.md").read_text()
    assert "Entities per type" in report

    predictor = headstart.load(result.run_dir, precision="fp32")
    text = "Maria lives in Rome, says Peter."
    [row] = predictor.predict([text])
    assert set(row) == {"text", "entities"}
    for entity in row["entities"]:  # spans are exact character offsets into the text
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] in {"PER", "LOC"} and 0.0 < entity["score"] <= 1.0
    [tagged] = predictor.tag([["Anna", "lives", "in", "Berlin"]])
    assert tagged["tokens"] == ["Anna", "lives", "in", "Berlin"] and len(tagged["tags"]) == 4


def test_tokens_learn_on_a_tiny_model_and_cli_round_trip(tiny_model: str, tmp_path: Path) -> None:
    train = _ner_file(tmp_path / "train.conll", 96)
    dev = _ner_file(tmp_path / "dev.conll", 16)
    result = headstart.fit(
        data=str(train), eval_data=str(dev), model=tiny_model, epochs=6, batch_size=8,
        max_length=32, output=str(tmp_path / "run"), quiet=True, lr=3e-3, head_lr=3e-2,
    )  # fmt: skip
    assert result.metrics["eval"]["f1"] >= 0.9  # a pattern this regular is learnt exactly
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    run = [sys.executable, "-m", "headstart.cli.main"]
    done = subprocess.run(
        [*run, "evaluate", str(result.run_dir), "--data", str(dev)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"f1 {result.metrics['eval']['f1']:.4f}" in done.stdout
    done = subprocess.run(
        [*run, "predict", str(result.run_dir), "-i", str(dev)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 16 and rows[0]["tokens"][1:] == ["lives", "in", "Paris", "."]
    assert rows[0]["tags"] == ["B-PER", "O", "O", "B-LOC", "O"]
