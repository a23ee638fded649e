"""Domain-shift diagnosis (``headstart shift``): how well a source model's tokenizer and, where it
has one, its masked-LM head fit a domain corpus, measured against a general reference corpus.

Definitions. A *word* is a pre-tokenizer word of the model's own tokenizer (what the model sees as
one word) made only of letters (``str.isalpha``): numbers, punctuation and the pieces around an
apostrophe do not count. Its *pieces* are the sub-word tokens the tokenizer makes of it.

- fertility: sub-word pieces per word, over all word occurrences.
- fragmented_share: share of word occurrences split into 3 or more pieces.
- unk_rate: share of all sub-word tokens of the texts (words, numbers, symbols) that are the
  tokenizer's unknown token.
- coverage: share of word occurrences kept whole (one piece, i.e. in the vocabulary).
- frequent_word_coverage: share of the 1,000 most frequent distinct words kept whole.
- distinctive terms: words seen at least 10 times whose frequency per word is at least 5 times
  their (add-one smoothed) frequency in the other corpus: the corpus's own vocabulary.
  distinctive_share is their share of word occurrences; distinctive_fertility and
  distinctive_coverage are fertility and coverage over their occurrences only (not reported
  under 20 distinct terms, e.g. for a corpus against itself). Aggregate
  statistics are dominated by everyday words that every English vocabulary holds; these show how
  the tokenizer copes with what is particular to the corpus.
- pseudo_perplexity (Salazar et al., 2020): each token of a sentence masked in turn, the exponent
  of the mean negative log-likelihood of the true tokens; on a fixed seeded sample of sentences,
  each cut to a few tokens, so it stays fast. Only where the checkpoint has a masked-LM head.
- most_fragmented: the split words (seen at least 3 times) that cost the most extra tokens,
  ranked by occurrences times (pieces - 1), with their pieces.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, DataError, ModelError
from headstart.pretraining.corpus import expand

FRAGMENTED_PIECES = 3
FREQUENT_WORDS = 1000
DISTINCTIVE_MIN_COUNT = 10
DISTINCTIVE_RATIO = 5.0
DISTINCTIVE_MIN_TERMS = 20  # fewer distinctive terms than this: their statistics are noise
MOST_FRAGMENTED = 15
FREQUENT_MIN_COUNT = 3  # a word met once or twice is not a frequent domain word
DEFAULT_REFERENCE = "bbc-news"
NO_HEAD = "no masked-LM head: pseudo-perplexity not available; run headstart adapt first"


@dataclass(frozen=True)
class Threshold:
    """One statistic compared domain against reference: ``ratio`` is domain / reference,
    ``difference`` is domain - reference, ``drop`` is reference - domain."""

    statistic: str
    comparison: str
    moderate: float
    large: float
    why: str


# The gap is the highest level any available statistic reaches. Calibration with minilm, 2,000
# documents of each corpus against 2,000 BBC News articles: fertility ratio, fragmented share
# difference, coverage drop, distinctive-term fertility ratio, distinctive-term coverage drop
#   one half of BBC vs the other:  1.00, -0.1 points, -0.2; 0.93, -3.4   small
#   GoEmotions (Reddit comments):  1.00, -0.2, -0.0; 1.01, +0.6          small
#   SST-2 (movie reviews):         1.06, +1.9, +4.1; 1.00, -0.4          moderate
#   Reuters finance news:          1.03, +0.3, +2.6; 1.11, +13.5         moderate
#   Financial PhraseBank:          1.07, +1.9, +5.3; 1.19, +15.6         moderate
#   SpamAssassin e-mail:           1.12, +3.4, +7.8; 1.21, +15.0         moderate
# The moderate thresholds sit above the spread between general-English corpora; the large ones
# above every corpus measured here (none of them is as far from news as, say, clinical notes).
THRESHOLDS = (
    Threshold(
        "fertility", "ratio", 1.05, 1.15,
        "more pieces per word: longer inputs, and word meanings the encoder must assemble",
    ),
    Threshold(
        "fragmented_share", "difference", 0.015, 0.05,
        "words in 3+ pieces carry little pretrained meaning of their own",
    ),
    Threshold(
        "coverage", "drop", 0.03, 0.08,
        "fewer words are vocabulary entries with a pretrained embedding",
    ),
    Threshold(
        "distinctive_fertility", "ratio", 1.10, 1.30,
        "the domain's own terms are split more than the reference's own terms",
    ),
    Threshold(
        "distinctive_coverage", "drop", 0.05, 0.20,
        "fewer of the domain's own terms than of the reference's are vocabulary entries",
    ),
    Threshold(
        "unk_rate", "difference", 0.002, 0.01,
        "unknown tokens erase the text they stand for",
    ),
    Threshold(
        "pseudo_perplexity", "ratio", 1.3, 2.0,
        "the masked-LM head predicts domain text worse than general text",
    ),
)  # fmt: skip

RECOMMENDATIONS = {
    "large": (
        "large gap: full or partial fine-tuning and `headstart adapt` (domain-adaptive "
        "pretraining) are likely to pay off; head-only will underperform"
    ),
    "moderate": (
        "moderate gap: prefer full or partial fine-tuning over head-only; `headstart adapt` may "
        "help a little, measure it with `headstart compare`"
    ),
    "small": (
        "small gap: the model's vocabulary fits this domain; head-only or LoRA is a fair start "
        "and `headstart adapt` is unlikely to pay off much"
    ),
}
LEVELS = ("small", "moderate", "large")


@dataclass
class WordCounts:
    """What the tokenizer made of a corpus: word occurrences and each word's pieces."""

    documents: int
    tokens: int  # every sub-word token of the texts, words or not
    unk_tokens: int
    counts: Counter[str]
    pieces: dict[str, list[str]]  # as first met; a word is split the same way wherever it stands


@dataclass
class FragmentedWord:
    word: str
    count: int
    pieces: list[str]


@dataclass
class CorpusStats:
    documents: int
    words: int
    distinct_words: int
    fertility: float
    fragmented_share: float
    unk_rate: float
    coverage: float
    frequent_word_coverage: float
    distinctive_terms: int
    distinctive_share: float
    distinctive_fertility: float | None  # None: too few distinctive terms (a corpus vs itself)
    distinctive_coverage: float | None
    most_fragmented: list[FragmentedWord]
    pseudo_perplexity: float | None = None
    pseudo_perplexity_sentences: int = 0


@dataclass
class Evidence:
    statistic: str
    comparison: str
    domain: float
    reference: float
    value: float
    level: str
    moderate: float
    large: float
    why: str


@dataclass
class ShiftReport:
    model: str
    domain: CorpusStats
    reference: CorpusStats
    gap: str
    recommendation: str
    evidence: list[Evidence]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_words(texts: Sequence[str], tokenizer: Any) -> WordCounts:
    """Tokenize the texts once with the fast tokenizer and group the pieces by word."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(
            f"{type(tokenizer).__name__} has no fast (Rust) tokenizer, which shift needs to map "
            f"pieces to words; pass a model with a tokenizer.json"
        )
    # A copy of the backend without the padding and truncation a tokenizer.json may carry (the
    # packaged minilm's pads and cuts at 128): whole documents are counted, never fed to a model.
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(backend.to_str())
    backend.no_padding()
    backend.no_truncation()
    encodings = backend.encode_batch(list(texts), add_special_tokens=False)
    unk_id = tokenizer.unk_token_id
    counts: Counter[str] = Counter()
    pieces: dict[str, list[str]] = {}
    tokens = unk = 0
    for text, encoding in zip(texts, encodings, strict=True):
        # Each of these attributes builds a new Python list on access: read them once.
        ids, offsets, word_ids = encoding.ids, encoding.offsets, encoding.word_ids
        pieces_of = encoding.tokens
        tokens += len(ids)
        if unk_id is not None:
            unk += ids.count(unk_id)
        spans: dict[int, list[int]] = {}
        for index, word_id in enumerate(word_ids):
            if word_id is not None:
                spans.setdefault(word_id, []).append(index)
        for indices in spans.values():
            word = text[offsets[indices[0]][0] : offsets[indices[-1]][1]].strip()
            if word.isalpha():
                counts[word] += 1
                if word not in pieces:
                    pieces[word] = [pieces_of[i] for i in indices]
    return WordCounts(len(texts), tokens, unk, counts, pieces)


def distinctive_words(words: WordCounts, other: WordCounts) -> list[str]:
    """Words much more frequent in ``words`` than in ``other`` (see the module docstring)."""
    total = sum(words.counts.values())
    other_total = sum(other.counts.values()) + len(other.counts)  # add-one smoothing
    return [
        word
        for word, count in words.counts.items()
        if count >= DISTINCTIVE_MIN_COUNT
        and count / total >= DISTINCTIVE_RATIO * (other.counts.get(word, 0) + 1) / other_total
    ]


def corpus_stats(words: WordCounts, other: WordCounts) -> CorpusStats:
    """Every tokenizer statistic of one corpus; ``other`` only decides its distinctive terms."""
    occurrences = sum(words.counts.values())
    if occurrences == 0:
        raise DataError("the corpus has no words (only numbers, symbols or blank lines)")
    n_pieces = {word: len(p) for word, p in words.pieces.items()}

    def over(selected: Iterable[str]) -> tuple[int, int, int, int]:
        """(occurrences, pieces, occurrences kept whole, occurrences in 3+ pieces)"""
        occ = pcs = whole = fragmented = 0
        for word in selected:
            count, n = words.counts[word], n_pieces[word]
            occ, pcs = occ + count, pcs + count * n
            whole += count if n == 1 else 0
            fragmented += count if n >= FRAGMENTED_PIECES else 0
        return occ, pcs, whole, fragmented

    _, pieces, whole, fragmented = over(words.counts)
    frequent = [word for word, _ in words.counts.most_common(FREQUENT_WORDS)]
    distinctive = distinctive_words(words, other)
    distinct_occ, distinct_pieces, distinct_whole, _ = over(distinctive)
    enough = len(distinctive) >= DISTINCTIVE_MIN_TERMS
    costly = sorted(
        (w for w, n in n_pieces.items() if n > 1 and words.counts[w] >= FREQUENT_MIN_COUNT),
        key=lambda w: (-words.counts[w] * (n_pieces[w] - 1), w),
    )[:MOST_FRAGMENTED]
    return CorpusStats(
        documents=words.documents,
        words=occurrences,
        distinct_words=len(words.counts),
        fertility=pieces / occurrences,
        fragmented_share=fragmented / occurrences,
        unk_rate=words.unk_tokens / words.tokens if words.tokens else 0.0,
        coverage=whole / occurrences,
        frequent_word_coverage=sum(n_pieces[w] == 1 for w in frequent) / len(frequent),
        distinctive_terms=len(distinctive),
        distinctive_share=distinct_occ / occurrences,
        distinctive_fertility=distinct_pieces / distinct_occ if enough else None,
        distinctive_coverage=distinct_whole / distinct_occ if enough else None,
        most_fragmented=[FragmentedWord(w, words.counts[w], words.pieces[w]) for w in costly],
    )


def compare(domain: CorpusStats, reference: CorpusStats) -> tuple[str, list[Evidence]]:
    """The gap level (the highest any statistic reaches) and the evidence for each statistic."""
    evidence = []
    for t in THRESHOLDS:
        d, r = getattr(domain, t.statistic), getattr(reference, t.statistic)
        if d is None or r is None or (t.comparison == "ratio" and r == 0):
            continue  # not measured (no masked-LM head, no distinctive terms)
        value = {"ratio": d / r if r else 0.0, "difference": d - r, "drop": r - d}[t.comparison]
        level = "large" if value >= t.large else "moderate" if value >= t.moderate else "small"
        evidence.append(Evidence(t.statistic, t.comparison, d, r, value, level, t.moderate,
                                 t.large, t.why))  # fmt: skip
    gap = max((e.level for e in evidence), key=LEVELS.index, default="small")
    return gap, evidence


def sample(texts: Sequence[str], limit: int | None, seed: int) -> list[str]:
    """At most ``limit`` texts, drawn with a fixed seed, in their original order."""
    if limit is None or len(texts) <= limit:
        return list(texts)
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def sample_sentences(texts: Sequence[str], n: int, seed: int, min_words: int = 4) -> list[str]:
    """``n`` sentences of at least ``min_words`` words, drawn with a fixed seed."""
    sentences = [
        s.strip() for text in texts for s in SENTENCE_END.split(text) if len(s.split()) >= min_words
    ]
    return sample(sentences, n, seed)


def pseudo_perplexity(
    model: Any, tokenizer: Any, sentences: Sequence[str], max_tokens: int = 32,
    batch_size: int = 64,
) -> float:  # fmt: skip
    """Pseudo-perplexity of a masked-LM over ``sentences``, each cut to ``max_tokens`` tokens:
    every non-special token masked in turn (one masked copy of the sentence per token)."""
    encoded = tokenizer(
        list(sentences), truncation=True, max_length=max_tokens + 2,
        return_special_tokens_mask=True,
    )  # fmt: skip
    copies: list[tuple[list[int], int]] = []  # (input ids, the masked position)
    for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"], strict=True):
        copies.extend((ids, i) for i, is_special in enumerate(special) if not is_special)
    if not copies:
        raise DataError("no tokens to score for pseudo-perplexity: the sentences are empty")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    # Only the masked position of each copy is scored: the vocabulary projection is fed that
    # one position rather than all (the logits of every position would take batch x length x
    # vocabulary floats). A head that projects without calling its output module still works.
    keep: dict[str, Any] = {}
    projection = model.get_output_embeddings()
    hook = (
        projection.register_forward_pre_hook(
            lambda _, args: (args[0][keep["rows"], keep["positions"]].unsqueeze(1), *args[1:])
        )
        if projection is not None
        else None
    )
    try:
        nll = _masked_nll(model, tokenizer, copies, batch_size, pad, keep)
    finally:
        if hook is not None:
            hook.remove()
    return math.exp(nll / len(copies))


def _masked_nll(
    model: Any, tokenizer: Any, copies: list[tuple[list[int], int]], batch_size: int, pad: int,
    keep: dict[str, Any],
) -> float:  # fmt: skip
    import torch

    device = next(model.parameters()).device
    nll = 0.0
    with torch.inference_mode():
        for start in range(0, len(copies), batch_size):
            batch = copies[start : start + batch_size]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (ids, _) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                attention[row, : len(ids)] = 1
            rows = torch.arange(len(batch))
            positions = torch.tensor([position for _, position in batch])
            targets = input_ids[rows, positions].clone()
            input_ids[rows, positions] = tokenizer.mask_token_id
            keep["rows"], keep["positions"] = rows.to(device), positions.to(device)
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention.to(device)
            ).logits
            masked = (
                logits[:, 0] if logits.shape[1] == 1 else logits[keep["rows"], keep["positions"]]
            )
            log_probs = masked.float().log_softmax(-1)
            nll -= log_probs[rows.to(device), targets.to(device)].sum().item()
    return nll


def diagnose(
    model_name: str,
    domain_texts: Sequence[str],
    reference_texts: Sequence[str],
    tokenizer: Any,
    mlm: Any | None = None,
    sentences: int = 200,
    max_tokens: int = 32,
    seed: int = 0,
    no_mlm_reason: str = NO_HEAD,
) -> ShiftReport:
    """Every statistic for the domain and the reference, the gap and the recommendation.
    ``mlm``: a masked-LM model whose head came from its checkpoint, or None (then the report
    notes ``no_mlm_reason``)."""
    domain_words = count_words(domain_texts, tokenizer)
    reference_words = count_words(reference_texts, tokenizer)
    if not domain_words.counts:
        raise DataError("the domain corpus has no words (only numbers, symbols or blank lines)")
    if not reference_words.counts:
        raise DataError("the reference corpus has no words (only numbers, symbols or blank lines)")
    domain = corpus_stats(domain_words, reference_words)
    reference = corpus_stats(reference_words, domain_words)
    notes = []
    if mlm is None:
        notes.append(no_mlm_reason)
    else:
        for stats, texts in ((domain, domain_texts), (reference, reference_texts)):
            picked = sample_sentences(texts, sentences, seed)
            if picked:
                stats.pseudo_perplexity = pseudo_perplexity(mlm, tokenizer, picked, max_tokens)
                stats.pseudo_perplexity_sentences = len(picked)
    gap, evidence = compare(domain, reference)
    return ShiftReport(model_name, domain, reference, gap, RECOMMENDATIONS[gap], evidence, notes)


def read_corpus(
    specs: Sequence[str], text_column: str | None = None, encoding: str = "utf-8"
) -> list[str]:
    """Texts of text files (one document per line), tables (their text column) or the builtin
    ``bbc-news``, in order; a quoted pattern (``'corpus/*.txt'``) stands for its files."""
    from headstart.data.builtin import is_builtin, load_bbc_news

    texts: list[str] = []
    for given in specs:
        if is_builtin(given):
            texts.extend(load_bbc_news()[0])
            continue
        texts.extend(_read_texts(expand([given]), text_column, encoding))  # a quoted pattern too
    return texts


def _read_texts(paths: list[Path], text_column: str | None, encoding: str) -> list[str]:
    from headstart.data.labelled import resolve_text_column
    from headstart.data.readers import detect_format, read_table

    texts: list[str] = []
    for spec in map(str, paths):
        if not Path(spec).exists():
            raise DataError(
                f"{spec}: file not found; pass a text file (one document per line), a table "
                f"with --text-column, or the builtin '{DEFAULT_REFERENCE}'"
            )
        table = read_table(spec, encoding)
        # A text file is its lines; --text-column is for the tables among the inputs.
        plain = detect_format(Path(spec)) == "text"
        column = "text" if plain else resolve_text_column(table, text_column)
        found = [row.get(column) for row in table.rows]
        kept = [t for t in found if isinstance(t, str) and t.strip()]
        if not kept:
            raise DataError(
                f"{spec}: no text in it (column '{column}'); expected one document per line "
                f"(.txt) or a table with a text column"
            )
        texts.extend(kept)
    return texts


def load_masked_lm(model: str, trust_remote_code: bool = False) -> tuple[Any | None, str | None]:
    """``(model, None)`` where the checkpoint has a masked-LM head, else ``(None, why not)``."""
    from headstart.pretraining.mlm import load_mlm

    try:
        mlm, had_head = load_mlm(model, trust_remote_code=trust_remote_code)
    except ModelError as exc:
        return None, f"pseudo-perplexity not available: {exc}"
    if not had_head:
        return None, NO_HEAD
    return mlm, None


def shift(
    model: str = "minilm",
    corpus: Sequence[str] = (),
    reference: Sequence[str] = (DEFAULT_REFERENCE,),
    text_column: str | None = None,
    encoding: str = "utf-8",
    max_docs: int | None = 2000,
    sentences: int = 200,
    max_tokens: int = 32,
    seed: int = 0,
    trust_remote_code: bool = False,
) -> ShiftReport:
    """Diagnose the shift from ``reference`` to ``corpus`` for ``model``: read both, draw at most
    ``max_docs`` documents of each (seeded), count, and compare."""
    from headstart.models.source import load_tokenizer, resolve

    if not corpus:
        raise DataError("no domain corpus; pass --corpus FILE (text, one document per line)")
    if max_docs is not None and max_docs < 1:
        raise ConfigError(f"--max-docs must be at least 1, found {max_docs}")
    if sentences > 0 and max_tokens < 1:
        raise ConfigError(f"--max-tokens must be at least 1, found {max_tokens}")
    domain_texts = sample(read_corpus(corpus, text_column, encoding), max_docs, seed)
    reference_texts = sample(read_corpus(reference or [DEFAULT_REFERENCE], text_column, encoding),
                             max_docs, seed)  # fmt: skip
    tokenizer = load_tokenizer(resolve(model), trust_remote_code)
    if sentences > 0:
        mlm, why_not = load_masked_lm(model, trust_remote_code)
    else:
        mlm, why_not = None, "pseudo-perplexity not measured (--sentences 0)"
    return diagnose(model, domain_texts, reference_texts, tokenizer, mlm, sentences, max_tokens,
                    seed, why_not or NO_HEAD)  # fmt: skip
