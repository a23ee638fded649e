"""Masked-LM pretraining (``adapt``, ``pretrain``): masking and packing on a real slice of the
finance corpus, the new head's tying, the held-out perplexity, the output folder as a ``fit``
model, and the bad-input lines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.pretraining.corpus import pack, read_documents, split_holdout
from headstart.pretraining.mlm import load_mlm, make_masker, mask_batch, mlm_loss
from headstart.pretraining.trainer import (
    MLMSettings,
    fix_heldout,
    heldout_loss,
    perplexity,
    train_mlm,
)
from tests.helpers import SHARED_DATA
from tests.tiny_models import save_tiny

DATA = SHARED_DATA
CORPUS = DATA / "finance_corpus" / "reuters21578_notused_bodies.part1.txt"
PHRASEBANK = DATA / "financial_phrasebank"
pytestmark = [
    pytest.mark.skipif(not CORPUS.exists(), reason="../shared/data is not here"),
    pytest.mark.usefixtures("one_thread"),
]


@pytest.fixture(scope="module")
def documents() -> list[str]:
    return read_documents([str(CORPUS)])[:200]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, documents) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "news.txt"
    path.write_text("\n".join(documents[:80]) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random BertModel (no masked-LM head) with the minilm tokenizer."""
    return save_tiny("bert", tmp_path_factory.mktemp("tiny") / "bert")


def settings(**changes) -> MLMSettings:
    base = dict(
        steps=20, epochs=1, batch_size=8, lr=1e-3, weight_decay=0.01, warmup_ratio=0.1,
        seed=0, precision="fp32", device="cpu", quiet=True, eval_batch_size=16,
    )  # fmt: skip
    return MLMSettings(**(base | changes))


def test_packing_keeps_every_token_in_framed_chunks(tokenizer, documents) -> None:
    docs = documents[:50]
    chunks = pack(tokenizer, docs, max_length=64)
    doc_tokens = sum(len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in docs)
    predicted = chunks.attention_mask.bool() & ~chunks.special_tokens_mask.bool()
    # every document token once; [SEP] between documents is marked special
    assert int(predicted.sum()) == doc_tokens
    assert chunks.tokens == doc_tokens + (len(docs) - 1) + 2 * len(chunks)
    assert (chunks.input_ids[:, 0] == tokenizer.cls_token_id).all()
    widths = chunks.attention_mask.sum(1)
    assert (widths <= 64).all() and (widths[:-1] >= 56).all()  # short only to keep words whole
    first = tokenizer.convert_ids_to_tokens(chunks.input_ids[:, 1].tolist())
    assert not [t for t in first if t.startswith("##")]  # no chunk starts inside a word
    ends = chunks.input_ids[torch.arange(len(chunks)), widths - 1]
    assert (ends == tokenizer.sep_token_id).all()


def test_masking_is_15_percent_with_the_80_10_10_rule(tokenizer, documents) -> None:
    chunks = pack(tokenizer, documents, max_length=128)
    batch = chunks.batch(list(range(len(chunks))))
    masked = mask_batch(make_masker(tokenizer, False, 0.15, seed=0), batch)
    candidates = batch["attention_mask"].bool() & ~batch["special_tokens_mask"].bool()
    chosen = masked["labels"] != -100
    assert not (chosen & ~candidates).any()  # never [CLS], [SEP] or padding
    assert int(candidates.sum()) > 30_000
    assert abs(chosen.sum() / candidates.sum() - 0.15) < 0.005
    became_mask = (masked["input_ids"] == tokenizer.mask_token_id) & chosen
    kept = (masked["input_ids"] == batch["input_ids"]) & chosen
    n = chosen.sum()
    assert abs(became_mask.sum() / n - 0.8) < 0.015
    assert abs(kept.sum() / n - 0.1) < 0.015  # (a random token equal to the original counts too)
    assert abs((n - became_mask.sum() - kept.sum()) / n - 0.1) < 0.015
    assert torch.equal(masked["labels"][chosen], batch["input_ids"][chosen])


def test_whole_word_masking_masks_every_piece_of_a_word(tokenizer, documents) -> None:
    chunks = pack(tokenizer, documents[:80], max_length=128, offsets=True)
    batch = chunks.batch(list(range(len(chunks))))
    masked = mask_batch(make_masker(tokenizer, True, 0.15, seed=0), batch)
    chosen = masked["labels"] != -100
    pieces = torch.tensor(
        [[t.startswith("##") for t in tokenizer.convert_ids_to_tokens(row)] for row in
         batch["input_ids"].tolist()]
    )  # fmt: skip
    # a word piece is chosen exactly when the piece before it (same word) is
    continuing = pieces[:, 1:]
    assert torch.equal(chosen[:, 1:][continuing], chosen[:, :-1][continuing])
    assert (chosen[:, 1:] & continuing).sum() > 20  # multi-piece words were masked whole
    candidates = batch["attention_mask"].bool() & ~batch["special_tokens_mask"].bool()
    assert 0.1 < chosen.sum() / candidates.sum() < 0.2
    assert (masked["input_ids"][chosen] == tokenizer.mask_token_id).all()


def test_a_missing_head_is_initialised_with_the_decoder_tied_to_the_embeddings(
    tiny_bert, tmp_path
) -> None:
    model, had_head = load_mlm(str(tiny_bert))
    assert not had_head
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.save_pretrained(tmp_path / "mlm")
    again, had_head = load_mlm(str(tmp_path / "mlm"))
    assert had_head  # a saved masked-LM model keeps its head
    assert torch.equal(again.cls.predictions.transform.dense.weight,
                       model.cls.predictions.transform.dense.weight)  # fmt: skip


def test_heldout_perplexity_uses_one_fixed_masking_and_falls(tiny_bert, tokenizer, documents):
    train_docs, held_docs = split_holdout(documents[:120], 0.1, seed=0)
    assert len(held_docs) == 12 and not set(held_docs) & set(train_docs)
    held_chunks = pack(tokenizer, held_docs, 64)
    s = settings(steps=30, lr=5e-3)
    held = fix_heldout(held_chunks, tokenizer, s)
    again = fix_heldout(held_chunks, tokenizer, s)
    for a, b in zip(held.batches, again.batches, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    torch.manual_seed(0)
    model, _ = load_mlm(str(tiny_bert))
    # the loss on masked positions only equals transformers' own masked-LM loss
    batch = held.batches[0]
    with torch.no_grad():
        loss_sum, count = mlm_loss(model.eval(), batch)
        assert count == int((batch["labels"] != -100).sum())
        assert math.isclose(float(loss_sum) / count, float(model(**batch).loss), rel_tol=1e-4)
    before = heldout_loss(model, held, s)
    labels_before = [b["labels"].clone() for b in held.batches]
    train_mlm(model, tokenizer, pack(tokenizer, train_docs, 64), s, headstart_console())
    after = heldout_loss(model, held, s)
    assert all(
        torch.equal(a, b["labels"]) for a, b in zip(labels_before, held.batches, strict=True)
    )
    assert perplexity(before) == pytest.approx(math.exp(before))
    assert after < before - 1.0


def headstart_console():
    from rich.console import Console

    return Console(quiet=True)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_adapt_writes_a_model_folder_that_fit_loads(tiny_bert, small_corpus, tmp_path) -> None:
    out = tmp_path / "adapted"
    result = invoke(
        "adapt", "--model", str(tiny_bert), "--corpus", str(small_corpus), "--output", str(out),
        "--steps", "12", "--batch-size", "8", "--max-length", "64", "--lr", "1e-3",
        "--holdout-fraction", "0.1", "--head-warmup-steps", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "has no masked-LM head: initialised a new one" in result.output
    assert "new head fitted with the encoder frozen: 10 steps" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 12 and metrics["had_mlm_head"] is False
    # the baseline is the source encoder with a fitted head, not an untrained one
    assert metrics["head_warmup_steps"] == 10
    assert metrics["perplexity_before"] < metrics["perplexity_untrained_head"]
    assert metrics["perplexity_after"] < metrics["perplexity_before"]
    assert metrics["perplexity_before"] == pytest.approx(math.exp(metrics["loss_before"]), 1e-3)
    assert not list(tmp_path.glob(".adapted.partial-*"))
    from transformers import AutoModel

    encoder, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert type(encoder).__name__ == "BertModel"
    assert not [k for k in info["missing_keys"] if not k.startswith("pooler.")]
    fitted = headstart.fit(
        data=str(PHRASEBANK / "allagree_dev.csv"), eval_data=str(PHRASEBANK / "allagree_test.csv"),
        model=str(out), strategy="full", epochs=1, max_length=32, output=str(tmp_path / "run"),
        quiet=True,
    )  # fmt: skip
    assert fitted.metrics["eval"]["accuracy"] > 0


def test_pretrain_tiny_with_its_own_tokenizer(small_corpus, tmp_path) -> None:
    out = tmp_path / "scratch"
    result = invoke(
        "pretrain", "--size", "tiny", "--train-tokenizer", "--vocab-size", "2000",
        "--corpus", str(small_corpus), "--output", str(out), "--steps", "15",
        "--batch-size", "8", "--max-length", "64", "--holdout-fraction", "0.1",
        "--whole-word-mask",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(out)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 128, 2)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == config.vocab_size <= 2000
    assert tokenizer.is_fast and tokenizer("Oil prices")["input_ids"][0] == tokenizer.cls_token_id
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["perplexity_after"] < metrics["perplexity_before"]
    fitted = headstart.fit(
        data=str(PHRASEBANK / "allagree_dev.csv"), model=str(out), strategy="full", epochs=1,
        max_length=32, output=str(tmp_path / "run"), quiet=True,
    )  # fmt: skip
    assert fitted.run_dir.exists()


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("missing", ["nope.txt: corpus file not found"]),
        ("empty", ["empty.txt: no text in this file"]),
        ("no_column", ["table.csv: no column 'body'", "--text-column"]),
        ("steps_and_epochs", ["--steps 5 and --epochs 1 both given"]),
        ("holdout", ["--holdout-fraction 0.05 of 3 documents holds out 0"]),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_folder(case, fragments, small_corpus, tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "table.csv").write_text("text,label\nOil rose,1\n")
    (tmp_path / "three.txt").write_text("one\ntwo\nthree\n")
    corpus = {
        "missing": [str(tmp_path / "nope.txt")],
        "empty": [str(tmp_path / "empty.txt")],
        "no_column": [str(tmp_path / "table.csv"), "--text-column", "body"],
        "steps_and_epochs": [str(small_corpus), "--steps", "5", "--epochs", "1"],
        "holdout": [str(tmp_path / "three.txt")],
    }[case]
    out = tmp_path / "out"
    result = invoke("adapt", "--output", str(out), "--corpus", *corpus)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))


def test_head_warmup_leaves_the_encoder_as_it_was(tiny_bert, small_corpus) -> None:
    from transformers import AutoTokenizer

    from headstart.pretraining.run import AdaptConfig, _fit_new_head

    model, had_head = load_mlm(str(tiny_bert))
    assert not had_head
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    chunks = pack(tokenizer, read_documents([str(small_corpus)], None, "utf-8")[:40], 64)
    encoder = {n: p.detach().clone() for n, p in model.base_model.named_parameters()}
    head = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("cls.")}
    s = MLMSettings(steps=None, epochs=1, batch_size=8, lr=1e-4, weight_decay=0.01,
                    warmup_ratio=0.0, seed=0, precision="fp32", device="cpu")  # fmt: skip
    config = AdaptConfig(corpus=[str(small_corpus)], output="unused")
    _fit_new_head(model, tokenizer, chunks, s, 5, config, headstart_console())
    assert all(torch.equal(p, encoder[n]) for n, p in model.base_model.named_parameters())
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for adaptation
    changed = [n for n, p in model.named_parameters() if n in head and not torch.equal(p, head[n])]
    assert changed  # the transform and bias trained
