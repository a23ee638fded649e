"""Sizes for a BERT pretrained from scratch, after the BERT-tiny/mini/small of Turc et al.
(2019), "Well-read students learn better"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError


@dataclass(frozen=True)
class Size:
    layers: int
    hidden: int
    heads: int

    @property
    def summary(self) -> str:
        return f"{self.layers} layers, hidden {self.hidden}, {self.heads} heads"


SIZES = {
    "tiny": Size(layers=2, hidden=128, heads=2),
    "mini": Size(layers=4, hidden=256, heads=4),
    "small": Size(layers=4, hidden=512, heads=8),
}
# Positions for 512 tokens even when pretraining on shorter chunks: `fit` reads up to 256 tokens
# by default and must not index past the position table.
MAX_POSITIONS = 512


def bert_config(size: str | None, config_file: str | None, tokenizer: Any) -> Any:
    """A BertConfig from a size preset or a BertConfig JSON file, sized to the tokenizer."""
    from transformers import BertConfig

    if (size is None) == (config_file is None):
        raise ConfigError(
            "pass either --size (" + ", ".join(SIZES) + ") or --config FILE (a BertConfig JSON)"
        )
    if config_file is not None:
        config = BertConfig(**_read_config(Path(config_file)))
    else:
        if size not in SIZES:
            raise ConfigError(f"--size {size}: unknown; expected one of {', '.join(SIZES)}")
        s = SIZES[size]
        config = BertConfig(
            hidden_size=s.hidden,
            num_hidden_layers=s.layers,
            num_attention_heads=s.heads,
            intermediate_size=4 * s.hidden,
            max_position_embeddings=MAX_POSITIONS,
        )
    config.vocab_size = len(tokenizer)
    config.pad_token_id = tokenizer.pad_token_id
    if config.hidden_size % config.num_attention_heads:
        raise ConfigError(
            f"{config_file}: hidden_size {config.hidden_size} is not a multiple of "
            f"num_attention_heads {config.num_attention_heads}; change one of them"
        )
    return config


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass a BertConfig JSON file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a JSON object like {{"hidden_size": 256, ...}}')
    kind = data.get("model_type", "bert")
    if kind != "bert":
        raise ConfigError(f"{path}: model_type '{kind}'; pretrain builds BERT models only")
    return data
