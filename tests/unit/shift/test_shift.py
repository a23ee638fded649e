"""``headstart shift``: the statistics on hand-checked text with the packaged minilm tokenizer,
the gap on small real slices (Reuters finance news against BBC News), pseudo-perplexity with a
tiny random masked-LM, and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import Result
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
from typer.testing import CliRunner

from headstart.cli.main import app
from headstart.models.source import packaged_minilm_dir
from headstart.shift.diagnosis import (
    NO_HEAD,
    RECOMMENDATIONS,
    THRESHOLDS,
    CorpusStats,
    compare,
    corpus_stats,
    count_words,
    diagnose,
    load_masked_lm,
    pseudo_perplexity,
    read_corpus,
    sample,
)
from tests.helpers import SHARED_DATA

FINANCE = SHARED_DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
needs_data = pytest.mark.skipif(not FINANCE.is_file(), reason="../shared/data is not here")


@pytest.fixture(scope="module")
def bbc() -> list[str]:
    return sample(read_corpus(["bbc-news"]), 300, seed=0)


def run_shift(*args: str, cwd: Path) -> Result:
    """The command line in this process (a fresh interpreter costs seconds of imports)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.delenv("HEADSTART_DEBUG", raising=False)
        return CliRunner().invoke(app, ["shift", *args])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def finance_lines(n: int) -> list[str]:
    return [line for line in FINANCE.read_text().splitlines()[:n] if line.strip()]


def test_statistics_on_a_hand_checked_example(tokenizer) -> None:
    # minilm: the | spoke ##sw ##oman | said | dl ##rs | rose | . and nak ##as ##one | met | the |
    # spoke ##sw ##oman | 2 | times | !   and   snow [UNK] and [UNK] here
    texts = ["The spokeswoman said dlrs rose.", "Nakasone met the spokeswoman 2 times!"]
    words = count_words(texts, tokenizer)
    assert words.counts["spokeswoman"] == 2 and "2" not in words.counts and "." not in words.counts
    assert words.pieces["Nakasone"] == ["nak", "##as", "##one"]
    assert (words.tokens, words.unk_tokens) == (20, 0)
    stats = corpus_stats(words, words)
    # 10 words in 1+3+1+2+1 + 3+1+1+3+1 = 17 pieces; 3 in 3+ pieces; 6 kept whole
    assert (stats.words, stats.distinct_words) == (10, 9)  # "The" and "the" are two forms
    assert stats.fertility == pytest.approx(1.7)
    assert stats.fragmented_share == pytest.approx(0.3)
    assert stats.coverage == pytest.approx(0.6)
    assert stats.frequent_word_coverage == pytest.approx(6 / 9)  # all 9 forms; 6 are whole
    assert stats.most_fragmented == []  # nothing split is seen 3 times
    assert stats.distinctive_terms == 0 and stats.distinctive_fertility is None

    snow = count_words(["snow ☃ and 🙂 here", "spokeswoman " * 3], tokenizer)
    assert (snow.tokens, snow.unk_tokens) == (14, 2)  # the two symbols are unknown tokens
    snow_stats = corpus_stats(snow, snow)
    assert snow_stats.unk_rate == pytest.approx(2 / 14)
    [top] = snow_stats.most_fragmented
    assert (top.word, top.count, top.pieces) == ("spokeswoman", 3, ["spoke", "##sw", "##oman"])


def test_thresholds_decide_the_gap() -> None:
    def stats(**values: float) -> CorpusStats:
        base = dict(
            documents=1, words=1, distinct_words=1, fertility=1.1, fragmented_share=0.02,
            unk_rate=0.0, coverage=0.95, frequent_word_coverage=0.99, distinctive_terms=50,
            distinctive_share=0.1, distinctive_fertility=1.1, distinctive_coverage=0.93,
            most_fragmented=[],
        )  # fmt: skip
        return CorpusStats(**(base | values))

    reference = stats()
    assert compare(stats(), reference)[0] == "small"
    gap, evidence = compare(stats(fertility=1.1 * 1.2), reference)
    assert gap == "large" and {e.statistic: e.level for e in evidence}["fertility"] == "large"
    gap, evidence = compare(stats(fragmented_share=0.02 + 0.02), reference)
    assert gap == "moderate"
    assert compare(stats(coverage=0.95 - 0.1), reference)[0] == "large"
    assert compare(stats(pseudo_perplexity=30.0), stats(pseudo_perplexity=10.0))[0] == "large"
    # a statistic measured on one side only is no evidence
    _, evidence = compare(stats(pseudo_perplexity=30.0), reference)
    assert "pseudo_perplexity" not in {e.statistic for e in evidence}
    assert {t.statistic for t in THRESHOLDS} >= {"fertility", "fragmented_share", "coverage"}


@needs_data
def test_finance_news_against_bbc_shows_a_gap_and_bbc_against_itself_none(
    tokenizer, bbc: list[str]
) -> None:
    report = diagnose("minilm", finance_lines(300), bbc, tokenizer)
    d, r = report.domain, report.reference
    # measured on these slices: fertility 1.104 vs 1.067, coverage 92.1% vs 95.4%, distinctive
    # terms kept whole 75.4% vs 97.5% (dlrs, mln, pct are two pieces each): a large gap
    assert d.fertility > r.fertility and d.coverage < r.coverage - 0.02
    assert d.distinctive_coverage < r.distinctive_coverage - 0.1
    assert report.gap in ("moderate", "large")
    assert report.recommendation == RECOMMENDATIONS[report.gap]
    assert {"dlrs", "mln", "pct"} <= {w.word for w in d.most_fragmented[:5]}
    assert report.notes == [NO_HEAD]

    same = diagnose("minilm", bbc, bbc, tokenizer)
    assert same.gap == "small" and same.recommendation.startswith("small gap")
    assert all(e.value == pytest.approx(0.0 if e.comparison != "ratio" else 1.0)
               for e in same.evidence)  # fmt: skip
    assert same.domain.distinctive_terms == 0


@pytest.fixture(scope="module")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-mlm")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64,
    )  # fmt: skip
    BertForMaskedLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(packaged_minilm_dir()).save_pretrained(folder)
    return folder


def test_pseudo_perplexity_matches_a_manual_computation(tiny_mlm_dir: Path) -> None:
    model, why_not = load_masked_lm(str(tiny_mlm_dir))
    assert model is not None and why_not is None  # the head came from the checkpoint
    tokenizer = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    sentences = ["Shares of the bank rose sharply today.", "Nakasone met the spokeswoman."]
    value = pseudo_perplexity(model, tokenizer, sentences, max_tokens=32, batch_size=5)

    nll, n = 0.0, 0  # one sentence and one masked position at a time, no padding
    with torch.inference_mode():
        for sentence in sentences:
            ids = tokenizer(sentence, return_tensors="pt")["input_ids"]
            for i in range(1, ids.shape[1] - 1):
                masked = ids.clone()
                masked[0, i] = tokenizer.mask_token_id
                log_probs = model(input_ids=masked).logits[0, i].log_softmax(-1)
                nll -= log_probs[ids[0, i]].item()
                n += 1
    assert math.isfinite(value) and value > 1
    assert value == pytest.approx(math.exp(nll / n), rel=1e-4)
    # cut to 3 tokens per sentence: 6 masked positions in all, a different value
    assert pseudo_perplexity(model, tokenizer, sentences, max_tokens=3) != pytest.approx(value)


def test_minilm_has_no_masked_lm_head() -> None:
    assert load_masked_lm("minilm") == (None, NO_HEAD)


@needs_data
def test_cli_json_on_real_slices(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    lines = FINANCE.read_text().splitlines()
    (tmp_path / "a.txt").write_text("\n".join(lines[:100]) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(lines[100:200]) + "\n")
    result = run_shift(
        "--model", str(tiny_mlm_dir), "--corpus", "a.txt", "b.txt", "--max-docs", "150",
        "--sentences", "20", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    for side in ("domain", "reference"):
        for key in ("fertility", "fragmented_share", "unk_rate", "coverage", "pseudo_perplexity"):
            assert isinstance(report[side][key], float), (side, key)
    assert report["domain"]["documents"] == 150  # both files after one --corpus, then sampled
    assert report["domain"]["pseudo_perplexity_sentences"] == 20
    assert report["recommendation"] == RECOMMENDATIONS[report["gap"]]
    assert {e["statistic"] for e in report["evidence"]} >= {"fertility", "pseudo_perplexity"}


def test_cli_bad_input_gives_one_line(tmp_path: Path) -> None:
    missing = run_shift("--corpus", "nope.txt", cwd=tmp_path)
    assert_one_line_error(missing, "nope.txt", "file not found", "bbc-news")
    (tmp_path / "empty.txt").write_text("\n  \n\n")
    empty = run_shift("--corpus", "empty.txt", cwd=tmp_path)
    assert_one_line_error(empty, "empty.txt", "no text")
    (tmp_path / "t.csv").write_text("body,label\nsome text,a\n")
    column = run_shift("--corpus", "t.csv", "--text-column", "text", cwd=tmp_path)
    assert_one_line_error(column, "t.csv", "no column 'text'", "--text-column")


def test_a_quoted_pattern_reads_its_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("third doc\n")
    (tmp_path / "a.txt").write_text("first doc\n\nsecond doc\n")
    assert read_corpus([str(tmp_path / "*.txt")]) == ["first doc", "second doc", "third doc"]
    nothing = run_shift("--corpus", "n*.txt", cwd=tmp_path)
    assert_one_line_error(nothing, "n*.txt", "no file matches")
