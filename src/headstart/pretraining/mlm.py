"""A masked-LM model: loading one with its head (initialising the head where the checkpoint has
none), the masking, the training loop and the held-out loss."""

from __future__ import annotations

from typing import Any

from headstart.errors import ConfigError, ModelError
from headstart.models.source import (
    ATTENTION_DROPOUT_NAMES,
    SourceModel,
    hub_error,
    resolve,
    set_attention_dropout,
)


def load_mlm(
    source: str | SourceModel,
    trust_remote_code: bool = False,
    attention_dropout: float | None = None,
) -> tuple[Any, bool]:
    """``(model, had_head)``: the source as ``AutoModelForMaskedLM``. Where the checkpoint has
    no masked-LM head (sentence encoders such as the packaged minilm), a fresh one is made: its
    transform (dense + LayerNorm) and bias newly initialised, its decoder tied to the input
    embeddings, so it starts from the encoder's own vocabulary vectors.

    ``attention_dropout`` replaces the attention-probability dropout of the built modules (0
    lets PyTorch's fused attention kernel run, ~3x faster on a CPU); the model's config keeps
    its own value, so a saved model is configured as the source was."""
    import transformers
    from transformers import AutoConfig, AutoModelForMaskedLM

    source = resolve(source) if isinstance(source, str) else source
    transformers.logging.set_verbosity_error()  # the loading report lists the missing head
    transformers.utils.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(source.location, trust_remote_code=trust_remote_code)
        kept = {n: getattr(config, n) for n in ATTENTION_DROPOUT_NAMES if hasattr(config, n)}
        if attention_dropout is not None:
            set_attention_dropout(config, attention_dropout)
        model, info = AutoModelForMaskedLM.from_pretrained(
            source.location,
            config=config,
            output_loading_info=True,
            trust_remote_code=trust_remote_code,
        )
        for name, value in kept.items():
            setattr(model.config, name, value)
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise hub_error(source.spec, exc) from None
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{source.spec}: cannot load it as a masked-LM model ({text[:200]}); pass a BERT-like "
            f"encoder (BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa)"
        ) from None
    prefix = model.base_model_prefix
    head_missing = [k for k in info["missing_keys"] if not k.startswith(prefix + ".")]
    had_head = not head_missing
    if not had_head:
        tie_decoder(model)
    return model, had_head


def tie_decoder(model: Any) -> None:
    """The output projection shares the input embedding matrix (as BERT was pretrained), also
    where the config says not to tie: an untied decoder would start random."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if out is not None and out.weight is not inp.weight:
        out.weight = inp.weight


def make_masker(tokenizer: Any, whole_word: bool, probability: float, seed: int) -> Any:
    """transformers' masked-LM collator: ``probability`` of the tokens chosen, of those 80%
    become [MASK], 10% a random token, 10% stay. Whole-word masking chooses words (all their
    pieces) instead; transformers does it with [MASK] only (no random or kept tokens)."""
    import torch
    from transformers import DataCollatorForLanguageModeling

    if whole_word and not tokenizer.is_fast:
        raise ConfigError(
            "--whole-word-mask needs a fast tokenizer (it finds word pieces by their offsets); "
            "this model's tokenizer is not one"
        )
    masker = DataCollatorForLanguageModeling(
        tokenizer,
        mlm_probability=probability,
        whole_word_mask=whole_word,
        # stated here rather than overridden with a warning by the collator
        mask_replace_prob=1.0 if whole_word else 0.8,
        random_replace_prob=0.0 if whole_word else 0.1,
        return_tensors="pt",
    )
    masker.generator = torch.Generator().manual_seed(seed)
    return masker


def mask_batch(masker: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """``batch`` (from :meth:`Chunks.batch`) with masked ``input_ids`` and ``labels`` (-100
    where nothing is predicted)."""
    inputs, labels = masker.torch_mask_tokens(
        batch["input_ids"].clone(),
        special_tokens_mask=batch["special_tokens_mask"],
        offset_mapping=batch.get("offset_mapping"),
    )
    return {"input_ids": inputs, "attention_mask": batch["attention_mask"], "labels": labels}


def prediction_head(model: Any) -> Any | None:
    """The masked-LM head as one module on hidden states, where the family has one (BERT,
    RoBERTa); None otherwise."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if head is not None and callable(head):
            return head
    return None


PICK_BUCKET = 128


def mlm_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """``(summed cross-entropy over the masked tokens, their number)``.

    The vocabulary projection runs only on the masked positions (~15%), not on all: for a
    small encoder like minilm the projection onto 30k words costs as much as the encoder, so
    this nearly halves a step. Families without a separable head take the full forward pass.
    """
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    picked = labels != -100
    count = int(picked.sum())
    head = prediction_head(model)
    if head is None:
        out = model(**batch)
        return out.loss.float() * count, count
    hidden = model.base_model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    # The number of masked tokens differs in every batch; rounded up to a multiple of
    # PICK_BUCKET (the extra rows predict nothing: label -100) the head sees only a few matrix
    # shapes, so a CPU's bf16 kernels (built once per shape by oneDNN) are reused, not rebuilt.
    where = picked.flatten().nonzero().squeeze(1)
    padded = -(-max(count, 1) // PICK_BUCKET) * PICK_BUCKET
    rows = torch.zeros(padded, dtype=torch.long, device=where.device)
    rows[:count] = where
    targets = torch.full((padded,), -100, dtype=torch.long, device=where.device)
    targets[:count] = labels.flatten()[where]
    logits = head(hidden.flatten(0, 1)[rows])
    return F.cross_entropy(logits.float(), targets, reduction="sum"), count
