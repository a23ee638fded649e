"""Token classification data: sentences of words, one tag per word.

Two input forms:

- CoNLL column files: one word per line, columns separated by whitespace, a blank line between
  sentences, ``-DOCSTART-`` lines between documents. ``--tag-column`` picks the tag column
  (counted from 0, the word; default the last).
- JSON Lines (or JSON, Parquet) with ``{"tokens": [...], "tags": [...]}``.

IOB1 tags (CoNLL-2003's own scheme, where ``I-`` may start an entity) are converted to IOB2/BIO,
in which every entity starts with ``B-``; BIO input passes through unchanged.
"""

from __future__ import annotations

from pathlib import Path

from headstart.data.readers import FORMATS, Table, decode_file, read_table, split_lines
from headstart.errors import DataError

CONLL_SUFFIXES = {".conll", ".conllx", ".iob", ".iob1", ".iob2", ".bio", ".ner"}
TOKENS_KEYS = ("tokens", "words")
TAGS_KEYS = ("tags", "ner_tags", "labels", "label")


def is_conll_file(path: str | Path) -> bool:
    """CoNLL by extension, or a file of another extension (``eng.train``) whose first lines
    are whitespace-separated columns or a ``-DOCSTART-`` line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES:
        return True
    if suffix in FORMATS or not path.is_file():
        return False
    with open(path, "rb") as handle:
        head = handle.read(4096).decode("utf-8", errors="replace")
    lines = [line for line in split_lines(head)[:20] if line.strip()]
    if not lines:
        return False
    if lines[0].startswith("-DOCSTART-"):
        return True
    widths = {len(line.split()) for line in lines[:-1] or lines}
    return len(widths) == 1 and widths.pop() >= 2


def _tag_index(tag_column: str | None, width: int, name: str, where: str) -> int:
    if tag_column is None:
        return width - 1
    try:
        index = int(tag_column)
    except ValueError:
        raise DataError(
            f"{name}: --tag-column '{tag_column}' must be a column number for a CoNLL file "
            f"(0 is the word, -1 the last column)"
        ) from None
    if not -width <= index < width or index in (0, -width):
        raise DataError(
            f"{name} {where}: --tag-column {index} is not a tag column of a line with {width} "
            f"columns; use 1 to {width - 1} or -1 for the last"
        )
    return index


def read_conll(
    path: str | Path, tag_column: str | None = None, encoding: str = "utf-8", need_tags: bool = True
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Sentences, their tags and where each sentence starts ("line 12"). Without
    ``need_tags`` (input to predict) a line may hold the word alone."""
    name = str(path)
    text = decode_file(Path(path), encoding)
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[str] = []
    words: list[str] = []
    labels: list[str] = []
    start = 0
    width = 0
    for number, line in enumerate(split_lines(text), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(words)
                tags.append(labels)
                where.append(f"line {start}")
            words, labels = [], []
            continue
        if len(fields) < 2 and need_tags:
            raise DataError(
                f"{name} line {number}: one column only ('{fields[0]}'); a CoNLL line needs the "
                f"word and its tag separated by whitespace"
            )
        if not width:
            width = len(fields)
        elif len(fields) != width:
            raise DataError(
                f"{name} line {number}: {len(fields)} columns where earlier lines have {width}; "
                f"every line of a CoNLL file needs the same columns"
            )
        if not words:
            start = number
        words.append(fields[0])
        if width > 1:
            labels.append(fields[_tag_index(tag_column, width, name, f"line {number}")])
    if words:
        sentences.append(words)
        tags.append(labels)
        where.append(f"line {start}")
    if not sentences:
        raise DataError(f"{name}: no sentences found; expected CoNLL lines 'word ... tag'")
    return sentences, tags, where


def is_tagged_table(table: Table) -> bool:
    """JSON rows with a list of tokens (and usually a list of tags)."""
    key = next((k for k in TOKENS_KEYS if k in table.columns), None)
    return key is not None and bool(table.rows) and isinstance(table.rows[0].get(key), list)


def read_tagged_table(
    table: Table, tag_column: str | None, need_tags: bool = True
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    tokens_key = next((k for k in TOKENS_KEYS if k in table.columns), None)
    if tokens_key is None:
        raise DataError(
            f"{table.path}: no 'tokens' field; token classification needs rows like "
            f'{{"tokens": [...], "tags": [...]}}'
        )
    tags_key = tag_column or next((k for k in TAGS_KEYS if k in table.columns), None)
    if need_tags and (tags_key is None or tags_key not in table.columns):
        raise DataError(
            f"{table.path}: no tags field{f' {tags_key!r}' if tags_key else ''}; found "
            f"{', '.join(table.columns)}; pass --tag-column NAME"
        )
    sentences, tags, where = [], [], []
    for row, at in zip(table.rows, table.where, strict=True):
        words = row.get(tokens_key)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataError(f"{table.path} {at}: '{tokens_key}' must be a list of strings")
        labels = row.get(tags_key) if tags_key else None
        if need_tags:
            if not isinstance(labels, list):
                raise DataError(f"{table.path} {at}: '{tags_key}' must be a list of tags")
            if len(labels) != len(words):
                raise DataError(
                    f"{table.path} {at}: {len(labels)} tags for {len(words)} tokens; give "
                    f"exactly one tag per token"
                )
        if not words:
            continue  # an empty sentence has nothing to tag
        sentences.append(words)
        tags.append([str(t) for t in labels] if isinstance(labels, list) else [])
        where.append(at)
    return sentences, tags, where


def read_tagged(
    path: str | Path, tag_column: str | None = None, encoding: str = "utf-8", need_tags: bool = True
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    if is_conll_file(path):
        return read_conll(path, tag_column, encoding, need_tags)
    return read_tagged_table(read_table(path, encoding), tag_column, need_tags)


def looks_tagged(path: str) -> bool:
    """Is this file token-classification data (CoNLL, or rows with a tokens list)?"""
    if is_conll_file(path):
        return True
    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".json", ".parquet") or not p.is_file():
        return False
    try:
        return is_tagged_table(read_table(p))
    except DataError:
        return False


# -- tag schemes --------------------------------------------------------------------------------
def entity_scheme(tags: list[list[str]]) -> bool:
    """Are these entity tags (``O``, ``B-X``, ``I-X``)? Otherwise tags are plain per-word classes
    (part of speech, say), scored by accuracy instead of entity F1."""
    return all(t == "O" or t[:2] in ("B-", "I-") for sentence in tags for t in sentence)


def to_bio(tags: list[str]) -> tuple[list[str], int]:
    """IOB1 → IOB2: an ``I-X`` that does not continue an ``X`` entity starts one (``B-X``).
    Returns the tags and how many were changed; BIO input comes back unchanged."""
    out: list[str] = []
    changed = 0
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
            changed += 1
        out.append(tag)
        previous = tag
    return out, changed


def bio_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) of each entity in a BIO sequence; a stray ``I-X``
    starts an entity, as conlleval does."""
    entities: list[tuple[str, int, int]] = []
    kind, start = "", -1
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == kind
        if start >= 0 and not inside:
            entities.append((kind, start, i))
            kind, start = "", -1
        if tag != "O" and not inside:
            kind, start = tag[2:], i
    return entities
