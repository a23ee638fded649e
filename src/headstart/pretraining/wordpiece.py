"""A new WordPiece vocabulary trained on the corpus (``pretrain --train-tokenizer``), with the
normalisation and pre-splitting of uncased BERT, returned as transformers' BERT tokenizer so
that ``AutoTokenizer`` loads it back from the output folder."""

from __future__ import annotations

from typing import Any

from headstart.errors import ConfigError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(documents: list[str], vocab_size: int, lowercase: bool = True) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizer

    if vocab_size < 100:
        raise ConfigError(f"--vocab-size {vocab_size}: expected at least 100, e.g. 8000")
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(documents, trainer=trainer, length=len(documents))
    # BertTokenizer (the tokenizers-backed one in transformers 5) rebuilds the same pipeline
    # around the vocabulary and adds the [CLS] … [SEP] post-processing.
    return BertTokenizer(vocab=backend.get_vocab(), do_lower_case=lowercase)
