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


def encode_words(tokenizer: Any, sentences: list[list[str]], max_length: int) -> WordWindows:
    """Windows of at most ``max_length`` tokens covering every word of every sentence once."""
    budget = max(max_length - special_tokens_count(tokenizer), 2)
    pieces: list[list[str]] = []
    words: list[tuple[int, int, int]] = []
    offsets: list[int] = []  # index of the first scored word within the window's word list
    for s, counts in enumerate(_word_token_counts(tokenizer, sentences)):
        for start, first, end in plan_windows(counts, budget):
            pieces.append(sentences[s][start:end])
            words.append((s, first, end))
            offsets.append(first - start)
    out = tokenizer(
        pieces, is_split_into_words=True, truncation=True, max_length=max_length, padding=False
    )
    positions: list[list[int]] = []
    for w, (offset, (_, first, end)) in enumerate(zip(offsets, words, strict=True)):
        firsts: dict[int, int] = {}
        for position, word in enumerate(out.word_ids(w)):
            if word is not None and word not in firsts:
                firsts[word] = position
        # a word made of no tokens at all (a control character, say) is tagged at the previous
        # token; its tag then comes from its neighbour's state rather than being dropped
        scored, last = [], 1
        for k in range(offset, offset + end - first):
            last = firsts.get(k, last)
            scored.append(last)
        positions.append(scored)
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in out]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return WordWindows(Encoded({k: out[k] for k in keep}, pad_id), positions, words)
