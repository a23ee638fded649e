"""``headstart pretrain``: masked-LM pretraining of a small BERT from scratch."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.adapt import (
    CorpusOption,
    EpochsOption,
    HoldoutOption,
    MaxLengthOption,
    OutputOption,
    PrecisionOption,
    QuietOption,
    StepsOption,
    TextColumnOption,
    TrackOption,
    WholeWordOption,
    report,
)
from headstart.cli.common import ExperimentOption, TrackDirOption, user_errors
from headstart.pretraining.presets import SIZES

SIZE_HELP = "; ".join(f"{name}: {size.summary}" for name, size in SIZES.items())


@user_errors
def pretrain(
    corpus: CorpusOption,
    output: OutputOption,
    size: Annotated[str | None, typer.Option(help=SIZE_HELP)] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="a BertConfig JSON file instead of --size")
    ] = None,
    tokenizer: Annotated[
        str, typer.Option(help="the tokenizer of this model (unless --train-tokenizer)")
    ] = "minilm",
    train_tokenizer: Annotated[
        bool, typer.Option(help="train a new WordPiece vocabulary on the corpus")
    ] = False,
    vocab_size: Annotated[int, typer.Option(help="--train-tokenizer: vocabulary size")] = 8000,
    text_column: TextColumnOption = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the corpus files")] = "utf-8",
    steps: StepsOption = None,
    epochs: EpochsOption = None,
    max_length: MaxLengthOption = 128,
    batch_size: Annotated[int, typer.Option(help="chunks per step")] = 32,
    lr: Annotated[float, typer.Option(help="peak learning rate (AdamW, linear decay)")] = 5e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay")] = 0.01,
    warmup_ratio: Annotated[float, typer.Option(help="share of steps for linear warmup")] = 0.06,
    holdout_fraction: HoldoutOption = 0.05,
    whole_word_mask: WholeWordOption = False,
    mlm_probability: Annotated[float, typer.Option(help="share of tokens masked")] = 0.15,
    seed: Annotated[int, typer.Option(help="seed for the split, weights, order, masking")] = 42,
    precision: PrecisionOption = "auto",
    overwrite: Annotated[bool, typer.Option(help="replace an existing --output folder")] = False,
    track: TrackOption = None,
    experiment: ExperimentOption = "headstart",
    track_dir: TrackDirOption = None,
    quiet: QuietOption = False,
) -> None:
    """Pretrain a small BERT from scratch with masked-LM on a corpus; the output folder works
    as --model in fit and every other command."""
    from headstart.pretraining.run import PretrainConfig
    from headstart.pretraining.run import pretrain as run_pretrain

    settings = PretrainConfig(
        corpus=corpus, output=output, size=size, config=config, tokenizer=tokenizer,
        train_tokenizer=train_tokenizer, vocab_size=vocab_size, text_column=text_column,
        encoding=encoding, steps=steps, epochs=epochs, max_length=max_length,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_ratio=warmup_ratio,
        holdout_fraction=holdout_fraction, whole_word_mask=whole_word_mask,
        mlm_probability=mlm_probability, seed=seed, precision=precision, overwrite=overwrite,
        track=track, experiment=experiment, track_dir=track_dir, quiet=quiet,
    )  # fmt: skip
    result = run_pretrain(settings)
    report(result.metrics, result.output)
