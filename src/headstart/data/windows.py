"""Sentences of words → token windows, with the position of each word's first sub-token.

A word's tag is predicted at its first sub-token (the other sub-tokens are ignored in the loss).
A sentence longer than ``max_length`` tokens is split into windows, never truncated: each window
scores a run of words and sees up to a quarter of its budget of the words before them as
left context, so that no word is tagged blind to what precedes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.data.batching import Encoded


@dataclass
class WordWindows:
    """Token windows of N sentences. ``positions[w]`` lists, for window ``w``, the token
    position of the first sub-token of each word it scores; those words are
    ``words[w] = (sentence, first word, last word + 1)``."""

    encoded: Encoded
    positions: list[list[int]]
    words: list[tuple[int, int, int]]

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def sentence_of(self) -> list[int]:
        return [s for s, _, _ in self.words]


def special_tokens_count(tokenizer: Any) -> int:
    return len(tokenizer("a", add_special_tokens=True)["input_ids"]) - len(
        tokenizer("a", add_special_tokens=False)["input_ids"]
    )


def _word_token_counts(tokenizer: Any, sentences: list[list[str]]) -> list[list[int]]:
    out = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    counts: list[list[int]] = []
    for i, sentence in enumerate(sentences):
        per_word = [0] * len(sentence)
        for word in out.word_ids(i):
            if word is not None:
                per_word[word] += 1
        counts.append(per_word)
    return counts


def plan_windows(counts: list[int], budget: int) -> list[tuple[int, int, int]]:
    """(context start, first scored word, last scored word + 1) of each window, so that the
    tokens of words context start .. end fit into ``budget``. Words whose tokens alone exceed
    the budget still get a window of their own (cut inside the word, after its first token)."""
    if sum(counts) <= budget:
        return [(0, 0, len(counts))]
    context_budget = budget // 4
    windows = []
    first = 0
    while first < len(counts):
        end, used = first, 0
        while end < len(counts) and (end == first or used + counts[end] <= budget):
            used += counts[end]
            end += 1
        # left context: as many previous words as fit in the context budget and the space left
        room = min(context_budget, budget - used)
        start = first
        while start > 0 and counts[start - 1] <= room:
            room -= counts[start - 1]
            start -= 1
        windows.append((start, first, end))
        first = end
    return windows


# Case markers: an uncased tokenizer (minilm's) reads "Paris" and "paris" alike and so loses
# NER's strongest cue. These otherwise unused vocabulary entries go before every word that
# starts with a capital, and before every all-capitals word, so that the encoder sees the case.
CASE_MARKER_TOKENS = ("[unused1]", "[unused2]")  # Capitalised, ALLCAPS


def case_marker_ids(tokenizer: Any) -> tuple[int, int] | None:
    """The marker token ids, or None when the tokenizer keeps case itself (markers would add
    nothing) or has no such unused entries."""
    if (
        tokenizer("Paris", add_special_tokens=False)["input_ids"]
        != tokenizer("paris", add_special_tokens=False)["input_ids"]
    ):
        return None
    ids = tokenizer.convert_tokens_to_ids(list(CASE_MARKER_TOKENS))
    if tokenizer.unk_token_id in ids or None in ids:
        return None
    return int(ids[0]), int(ids[1])


def case_of(word: str) -> int:
    """0: no marker; 1: Capitalised (or mixed); 2: ALL CAPITALS (two or more letters)."""
    if not word[:1].isupper():
        return 0
    return 2 if sum(c.isalpha() for c in word) > 1 and word.isupper() else 1


def encode_words(
    tokenizer: Any,
    sentences: list[list[str]],
    max_length: int,
    markers: tuple[int, int] | None = None,
) -> WordWindows:
    """Windows of at most ``max_length`` tokens covering every word of every sentence once.
    ``markers`` (from :func:`case_marker_ids`) puts a case marker before capitalised words;
    each word is still scored at its own first sub-token."""
    budget = max(max_length - special_tokens_count(tokenizer), 2)
    pieces: list[list[str]] = []
    words: list[tuple[int, int, int]] = []
    offsets: list[int] = []  # index of the first scored word within the window's word list
    for s, counts in enumerate(_word_token_counts(tokenizer, sentences)):
        if markers is not None:  # a marker is one more token for its word
            counts = [n + (case_of(w) > 0) for n, w in zip(counts, sentences[s], strict=True)]
        for start, first, end in plan_windows(counts, budget):
            pieces.append(sentences[s][start:end])
            words.append((s, first, end))
            offsets.append(first - start)
    out = tokenizer(
        pieces, is_split_into_words=True, truncation=True, max_length=max_length, padding=False
    )
    columns = {k: out[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in out}
    word_ids = [out.word_ids(w) for w in range(len(pieces))]
    if markers is not None:
        word_ids = _insert_markers(columns, word_ids, pieces, markers, max_length)
    positions: list[list[int]] = []
    for w, (offset, (_, first, end)) in enumerate(zip(offsets, words, strict=True)):
        firsts: dict[int, int] = {}
        for position, word in enumerate(word_ids[w]):
            if word is not None and word not in firsts:
                firsts[word] = position
        # a word made of no tokens at all (a control character, say) is tagged at the previous
        # token; its tag then comes from its neighbour's state rather than being dropped
        scored, last = [], 1
        for k in range(offset, offset + end - first):
            last = firsts.get(k, last)
            scored.append(last)
        positions.append(scored)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return WordWindows(Encoded(columns, pad_id), positions, words)


def _insert_markers(
    columns: dict[str, list[list[int]]],
    word_ids: list[list[int | None]],
    pieces: list[list[str]],
    markers: tuple[int, int],
    max_length: int,
) -> list[list[int | None]]:
    """Put each capitalised word's marker before its first sub-token (in place); returns the
    new word ids, where a marker belongs to no word. A window the markers push past
    ``max_length`` (only one holding a single over-long word) loses tokens before its end."""
    new_word_ids = []
    for w, ids in enumerate(word_ids):
        rows = {name: [] for name in columns}
        mapped: list[int | None] = []
        seen: set[int] = set()
        for position, word in enumerate(ids):
            if word is not None and word not in seen:
                seen.add(word)
                kind = case_of(pieces[w][word])
                if kind:
                    for name, row in rows.items():
                        source = columns[name][w][position]
                        row.append(markers[kind - 1] if name == "input_ids" else source)
                    mapped.append(None)
            for name, row in rows.items():
                row.append(columns[name][w][position])
            mapped.append(word)
        if len(mapped) > max_length:  # keep the closing special token
            for row in rows.values():
                del row[max_length - 1 : -1]
            del mapped[max_length - 1 : -1]
        for name, row in rows.items():
            columns[name][w] = row
        new_word_ids.append(mapped)
    return new_word_ids
