"""Tiny random encoders of five families, built from configs in memory, for fast tests."""

from __future__ import annotations

from pathlib import Path

from transformers import (
    AutoModel,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    PretrainedConfig,
    RobertaConfig,
)

VOCAB = 30522  # the packaged minilm tokenizer's vocabulary, so tiny models can share it
LAYERS = 4


def tiny_config(family: str) -> PretrainedConfig:
    common = {"vocab_size": VOCAB, "max_position_embeddings": 128}
    if family == "bert":
        return BertConfig(
            hidden_size=32,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            intermediate_size=37,
            **common,
        )
    if family == "roberta":
        return RobertaConfig(
            hidden_size=32,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            intermediate_size=37,
            pad_token_id=0,
            **common,
        )
    if family == "distilbert":
        return DistilBertConfig(dim=32, n_layers=LAYERS, n_heads=4, hidden_dim=37, **common)
    if family == "electra":
        return ElectraConfig(
            embedding_size=16,
            hidden_size=32,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            intermediate_size=37,
            **common,
        )
    if family == "deberta-v2":
        return DebertaV2Config(
            hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=4, intermediate_size=37,
            relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"], **common,
        )  # fmt: skip
    raise ValueError(family)


FAMILIES = ("bert", "roberta", "distilbert", "electra", "deberta-v2")


def tiny_encoder(family: str):
    return AutoModel.from_config(tiny_config(family))


def save_tiny(family: str, folder: Path) -> Path:
    """A save_pretrained folder: tiny random weights plus the packaged minilm tokenizer."""
    from transformers import AutoTokenizer

    from headstart.models.source import packaged_minilm_dir

    tiny_encoder(family).save_pretrained(folder)
    AutoTokenizer.from_pretrained(packaged_minilm_dir()).save_pretrained(folder)
    return folder
