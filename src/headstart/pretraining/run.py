"""``adapt`` and ``pretrain`` as library calls: corpus → held-out split → packed chunks →
held-out loss before → masked-LM training → held-out loss after → a save_pretrained folder.

The output folder (model, tokenizer, ``metrics.json``, ``pretraining.json``) is written
atomically and loads as ``--model DIR`` in every other command.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from headstart.config.pretraining import (
    TRAIN_ATTENTION_DROPOUT,
    AdaptConfig,
    MLMConfig,
    PretrainConfig,
)
from headstart.core.distributed import is_main, same_on_all, wait_for_everyone, world_size
from headstart.core.env import quiet_transformers
from headstart.core.precision import pick_device, resolve_precision
from headstart.core.reporting import Reporter
from headstart.engine.checkpoints import restore_weights
from headstart.errors import ConfigError
from headstart.pretraining.checkpoints import (
    MLMCheckpoint,
    open_output,
    resumable_settings,
    resume_point,
)
from headstart.pretraining.corpus import Chunks, pack, read_documents, split_holdout
from headstart.pretraining.trainer import (
    MLMOutcome,
    MLMSettings,
    fix_heldout,
    heldout_loss,
    heldout_sums,
    perplexity,
    train_mlm,
)
from headstart.runs.folder import StagedRun, check_target, write_json
from headstart.runs.tracking import Tracking


@dataclass
class MLMResult:
    output: Path
    metrics: dict[str, Any] = field(default_factory=dict)


def resumed_adapt_config(output: str, quiet: bool = False) -> AdaptConfig:
    """The settings an interrupted ``adapt --save-every`` run saved in its output folder."""
    saved = resumable_settings(Path(output))
    try:
        return AdaptConfig(**(saved | {"output": output, "quiet": quiet}))
    except TypeError as exc:
        raise ConfigError(f"{output}: pretraining.json does not fit this version ({exc})") from None


def adapt(
    config: AdaptConfig, console: Console | Reporter | None = None, *, resume: bool = False
) -> MLMResult:
    """Continue masked-LM pretraining of ``config.model`` on the corpus. ``resume=True``
    continues an interrupted ``save_every`` run in ``config.output`` from its latest checkpoint
    (see :func:`resumed_adapt_config`)."""
    from headstart.models.source import load_tokenizer, resolve
    from headstart.pretraining.mlm import load_mlm

    config = config if is_main() else replace(config, quiet=True)  # under a launcher
    reporter = Reporter.of(console, quiet=config.quiet)
    output = Path(config.output)
    if not resume:
        check_target(output, config.overwrite)  # fail before any work
    tracking = Tracking.for_run(config, Path(config.output))  # a missing extra fails here too
    corpus = read_corpus(config)
    source = resolve(config.model)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    torch.manual_seed(config.seed)  # before loading: a new head's initialisation is seeded
    model, had_head = load_mlm(source, config.trust_remote_code, TRAIN_ATTENTION_DROPOUT)
    if had_head:
        reporter.info(f"{config.model}: continuing with its own masked-LM head")
    else:
        reporter.info(
            f"{config.model} has no masked-LM head: initialised a new one (decoder tied to the "
            f"input embeddings, transform and bias fresh)"
        )
    extra = {"model": config.model, "had_mlm_head": had_head}
    warmup = 0 if had_head else config.head_warmup_steps
    checkpoints, saved = None, None
    if config.save_every:  # after the input is checked: a bad corpus leaves no folder
        checkpoints = output / "checkpoints"
        if resume:
            saved = resume_point(checkpoints)
            if saved is None:
                reporter.info("resume: no checkpoint was written yet; training from the start")
        elif is_main():
            open_output(output, asdict(config), config.overwrite)
    with tracking:
        return _run(
            config, corpus, model, tokenizer, None, reporter, extra, tracking, head_warmup=warmup,
            checkpoints=checkpoints if is_main() else None, resume=saved,
        )  # fmt: skip


def pretrain(config: PretrainConfig, console: Console | Reporter | None = None) -> MLMResult:
    """Pretrain a small BERT from scratch on the corpus."""
    from transformers import BertForMaskedLM

    from headstart.models.source import load_tokenizer, resolve
    from headstart.pretraining.presets import bert_config

    config = config if is_main() else replace(config, quiet=True)  # under a launcher
    reporter = Reporter.of(console, quiet=config.quiet)
    check_target(Path(config.output), config.overwrite)
    bert_config(config.size, config.config, _SizeOnly())  # bad --size/--config before any work
    tracking = Tracking.for_run(config, Path(config.output))
    corpus = read_corpus(config)
    tokenizer = None if config.train_tokenizer else load_tokenizer(resolve(config.tokenizer))
    builder = _Builder(config, BertForMaskedLM)
    extra = {"size": config.size, "config_file": config.config}
    with tracking:
        return _run(config, corpus, None, tokenizer, builder, reporter, extra, tracking)


def _fit_new_head(
    model: Any,
    tokenizer: Any,
    chunks: Any,
    settings: MLMSettings,
    steps: int,
    config: Any,
    console: Console | Reporter,
) -> Any:
    """Train only the new head's transform and bias, the encoder (and so the tied decoder)
    frozen: no gradients through the encoder, so a step costs about a forward pass."""
    from dataclasses import replace

    encoder = list(model.base_model.parameters())
    for p in encoder:
        p.requires_grad_(False)
    try:
        head = replace(
            settings, steps=steps, lr=config.head_warmup_lr, warmup_ratio=0.1,
            seed=settings.seed + 7, on_point=None, save_every=None, resume=None,
        )  # fmt: skip
        return train_mlm(model, tokenizer, chunks, head, console)
    finally:
        for p in encoder:
            p.requires_grad_(True)


class _SizeOnly:
    """Stands in for a tokenizer when only checking --size/--config."""

    pad_token_id = 0

    def __len__(self) -> int:
        return 30522


@dataclass
class _Builder:
    """Builds the tokenizer (trained on the training documents only, never the held-out ones)
    and the random model once the corpus is read."""

    config: PretrainConfig
    model_class: Any

    def tokenizer(self, train_docs: list[str], reporter: Reporter) -> Any:
        from headstart.pretraining.wordpiece import train_wordpiece

        start = time.perf_counter()
        tokenizer = train_wordpiece(train_docs, self.config.vocab_size)
        reporter.info(
            f"trained a WordPiece vocabulary of {len(tokenizer):,} on {len(train_docs):,} "
            f"documents in {time.perf_counter() - start:.1f} s"
        )
        return tokenizer

    def model(self, tokenizer: Any, reporter: Reporter) -> Any:
        from headstart.pretraining.presets import bert_config

        bert = bert_config(self.config.size, self.config.config, tokenizer)
        kept = bert.attention_probs_dropout_prob
        bert.attention_probs_dropout_prob = TRAIN_ATTENTION_DROPOUT
        torch.manual_seed(self.config.seed)
        model = self.model_class(bert)
        model.config.attention_probs_dropout_prob = kept  # saved as configured
        n = sum(p.numel() for p in model.parameters())
        reporter.info(
            f"new BERT: {bert.num_hidden_layers} layers, hidden {bert.hidden_size}, "
            f"{bert.num_attention_heads} heads, vocabulary {bert.vocab_size:,}: {n:,} parameters"
        )
        return model


@dataclass
class Corpus:
    documents: int
    train: list[str]
    held_out: list[str]


def read_corpus(config: MLMConfig) -> Corpus:
    """The documents, split: read before any model is loaded, so bad input fails at once."""
    documents = read_documents(config.corpus, config.text_column, config.encoding)
    train, held_out = split_holdout(documents, config.holdout_fraction, config.seed)
    return Corpus(len(documents), train, held_out)


@dataclass
class _Packed:
    train: Chunks
    held: Chunks


def _run(
    config: MLMConfig,
    corpus: Corpus,
    model: Any,
    tokenizer: Any,
    builder: _Builder | None,
    reporter: Reporter,
    extra: dict[str, Any],
    tracking: Tracking,
    head_warmup: int = 0,
    checkpoints: Path | None = None,
    resume: MLMCheckpoint | None = None,
) -> MLMResult:
    """Chunks → held-out loss before → masked-LM training → held-out loss after → the output
    folder. A ``builder`` (pretrain) makes the tokenizer and model from the corpus first."""
    quiet_transformers()  # "sequence longer than 512": we pack, not cut
    if builder is not None:
        tokenizer, model = _build(builder, corpus, tokenizer, reporter)
    packed = _pack(config, corpus, tokenizer, reporter)
    settings = _settings(config, tracking, checkpoints, resume)
    model.to(settings.device)
    held = fix_heldout(packed.held, tokenizer, settings)
    if resume is None:
        measured = _before_training(
            model, tokenizer, packed.train, held, settings, head_warmup, config, reporter
        )
    else:  # the head warmup and "before" were measured by the interrupted run
        measured = _resumed(model, resume, reporter)
    extra |= measured["extra"]
    settings.run_state = measured  # saved in each checkpoint
    outcome = train_mlm(model, tokenizer, packed.train, settings, reporter)
    after = heldout_loss(model, held, settings)
    metrics = _metrics(config, corpus, packed, measured, after, outcome, settings) | extra
    target = _write_output(config, model, tokenizer, metrics, tracking, checkpoints)
    reporter.success(
        f"{outcome.steps} steps in {outcome.seconds:.1f} s "
        f"({metrics['steps_per_second']:.3f} steps/s, {settings.precision}): held-out perplexity "
        f"{metrics['perplexity_before']:,.2f} → {metrics['perplexity_after']:,.2f} → {target}"
    )
    return MLMResult(target, metrics)


def _build(builder: _Builder, corpus: Corpus, tokenizer: Any, reporter: Reporter) -> Any:
    """pretrain's tokenizer (unless one was given) and its new random model."""
    if tokenizer is None:  # under a launcher: trained once, the same on every process
        trained = builder.tokenizer(corpus.train, reporter) if is_main() else None
        tokenizer = same_on_all(trained)
    return tokenizer, builder.model(tokenizer, reporter)


def _pack(config: MLMConfig, corpus: Corpus, tokenizer: Any, reporter: Reporter) -> _Packed:
    start = time.perf_counter()
    train = pack(tokenizer, corpus.train, config.max_length, config.whole_word_mask)
    held = pack(tokenizer, corpus.held_out, config.max_length, config.whole_word_mask)
    reporter.info(
        f"corpus: {corpus.documents:,} documents → {len(train):,} chunks of "
        f"{config.max_length} tokens ({train.tokens:,} tokens) for training, "
        f"{len(corpus.held_out):,} documents ({len(held):,} chunks) held out "
        f"[{time.perf_counter() - start:.1f} s]"
    )
    return _Packed(train, held)


def _settings(
    config: MLMConfig, tracking: Tracking, checkpoints: Path | None, resume: MLMCheckpoint | None
) -> MLMSettings:
    device = pick_device()
    return MLMSettings(
        steps=config.steps,
        epochs=config.epochs or 1,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        seed=config.seed,
        precision=resolve_precision(config.precision, device, config.max_length),
        device=device,
        whole_word_mask=config.whole_word_mask,
        mlm_probability=config.mlm_probability,
        quiet=config.quiet,
        on_point=tracking.log_epoch,  # --track: the training curve as it is drawn
        save_every=getattr(config, "save_every", None),
        checkpoint_dir=checkpoints,
        resume=resume,
    )


def _resumed(model: Any, resume: MLMCheckpoint, reporter: Reporter) -> dict[str, Any]:
    """The checkpoint's weights; what the interrupted run measured before training."""
    restore_weights(model, resume.weights, resume.path)  # before train_mlm's DDP wrap
    reporter.info(f"resume: from {resume.path.name} (step {resume.state.step})")
    return resume.state.run


def _metrics(
    config: MLMConfig,
    corpus: Corpus,
    packed: _Packed,
    measured: dict[str, Any],
    after: float,
    outcome: MLMOutcome,
    settings: MLMSettings,
) -> dict[str, Any]:
    before = measured["loss_before"]
    return {
        "perplexity_before": round(perplexity(before), 4),
        "perplexity_after": round(perplexity(after), 4),
        "loss_before": round(before, 5),
        "loss_after": round(after, 5),
        "heldout_masked_tokens": measured["heldout_masked_tokens"],
        "heldout_documents": len(corpus.held_out),
        "heldout_chunks": len(packed.held),
        "train_documents": len(corpus.train),
        "chunks": len(packed.train),
        "steps": outcome.steps,
        "epochs": round(outcome.steps * config.batch_size / len(packed.train), 3),
        "tokens": outcome.tokens,
        "seconds": round(outcome.seconds, 1),
        "steps_per_second": round(outcome.steps / max(outcome.seconds, 1e-9), 4),
        "final_train_loss": round(outcome.final_train_loss, 5),
        "precision": settings.precision,
        "device": settings.device,
        "processes": world_size(),  # > 1 under accelerate launch or torchrun
        "curve": outcome.curve,
    }


def _write_output(
    config: MLMConfig,
    model: Any,
    tokenizer: Any,
    metrics: dict[str, Any],
    tracking: Tracking,
    checkpoints: Path | None,
) -> Path:
    """The save_pretrained folder, written atomically by the main process; the others wait."""
    target = Path(config.output)
    if is_main():
        # a checkpointed run owns its folder already (pretraining.json and checkpoints/ in it)
        with StagedRun(target, config.overwrite or checkpoints is not None) as stage:
            model.save_pretrained(stage)
            tokenizer.save_pretrained(stage)
            write_json(stage / "metrics.json", metrics)
            write_json(stage / "pretraining.json", asdict(config))
            tracking.stage_files(stage, metrics)  # tensorboard/ from --track
            if checkpoints is not None and checkpoints.is_dir():  # kept: the last two
                os.replace(checkpoints, stage / "checkpoints")
        tracking.finish(target, metrics)
    wait_for_everyone()
    return target


def _before_training(
    model: Any,
    tokenizer: Any,
    train_chunks: Any,
    held: Any,
    settings: MLMSettings,
    head_warmup: int,
    config: MLMConfig,
    reporter: Reporter,
) -> dict[str, Any]:
    """The new head's warmup (a model without one) and the held-out loss before training."""
    extra: dict[str, Any] = {}
    if head_warmup:
        untrained = heldout_loss(model, held, settings)
        warm = _fit_new_head(
            model, tokenizer, train_chunks, settings, head_warmup, config, reporter
        )
        extra = {
            "perplexity_untrained_head": round(perplexity(untrained), 4),
            "head_warmup_steps": head_warmup,
            "head_warmup_seconds": round(warm.seconds, 1),
        }
        reporter.info(
            f"new head fitted with the encoder frozen: {head_warmup} steps in "
            f"{warm.seconds:.1f} s (held-out perplexity with the untrained head "
            f"{perplexity(untrained):,.2f})"
        )
    start = time.perf_counter()
    before_sum, held_tokens = heldout_sums(model, held, settings)  # every token once
    before = before_sum / max(held_tokens, 1)
    eval_seconds = time.perf_counter() - start
    reporter.info(
        f"held-out masked-LM loss before {before:.4f}, perplexity {perplexity(before):,.2f} "
        f"({held_tokens:,} masked tokens, {eval_seconds:.1f} s)"
    )
    return {"loss_before": before, "heldout_masked_tokens": held_tokens, "extra": extra}
