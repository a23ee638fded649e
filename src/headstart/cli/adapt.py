"""``headstart adapt``: continued masked-LM pretraining of an encoder on a domain corpus."""

from __future__ import annotations

from typing import Annotated

import typer

from headstart.cli.common import (
    ExperimentOption,
    TrackDirOption,
    out_console,
    typed_options,
    user_errors,
)

CORPUS = typer.Option(
    "--corpus",
    help="text file, one document per line, or CSV/TSV/JSONL/Parquet (see --text-column); "
    "repeat for more files or quote a pattern: --corpus 'news/*.txt'",
)
OUTPUT = typer.Option("--output", "-o", help="folder for the model and tokenizer (save_pretrained)")
CorpusOption = Annotated[list[str], CORPUS]
OutputOption = Annotated[str, OUTPUT]
TextColumnOption = Annotated[
    str | None, typer.Option(help="text column of table files (default: text or sentence)")
]
StepsOption = Annotated[
    int | None, typer.Option(help="optimizer steps (or --epochs; default one epoch)")
]
EpochsOption = Annotated[int | None, typer.Option(help="passes over the corpus (or --steps)")]
MaxLengthOption = Annotated[int, typer.Option(help="tokens per packed chunk")]
HoldoutOption = Annotated[
    float, typer.Option(help="share of the documents held out for the perplexity (seeded)")
]
WholeWordOption = Annotated[
    bool, typer.Option(help="mask whole words (all their pieces), always with [MASK]")
]
PrecisionOption = Annotated[str, typer.Option(help="auto, fp32 or bf16 (fp16 on a GPU)")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")]
TrackOption = Annotated[
    str | None,
    typer.Option(
        help="log settings, the training loss (every ~1/20 of the run), the perplexities and "
        "metrics.json to mlflow (honours MLFLOW_TRACKING_URI; default sqlite:///mlflow.db here) "
        "or tensorboard (OUTPUT/tensorboard), or both: mlflow,tensorboard. Needs the track extra"
    ),
]


def report(metrics: dict, output: object) -> None:
    from headstart.core.distributed import is_main

    if not is_main():  # under accelerate launch or torchrun the main process reports, once
        return
    out_console.print(
        f"held-out perplexity {metrics['perplexity_before']:,.2f} → "
        f"{metrics['perplexity_after']:,.2f}  {metrics['steps']} steps in "
        f"{metrics['seconds']:.1f}s ({metrics['steps_per_second']:.3f} steps/s)  model {output}"
    )


@user_errors
def adapt(
    ctx: typer.Context,
    # optional here: --resume and --config recipes give them too
    corpus: Annotated[list[str] | None, CORPUS] = None,
    output: Annotated[str | None, OUTPUT] = None,
    model: Annotated[
        str, typer.Option(help="hub id, local folder or 'minilm' (packaged default)")
    ] = "minilm",
    text_column: TextColumnOption = None,
    encoding: Annotated[str, typer.Option(help="text encoding of the corpus files")] = "utf-8",
    steps: StepsOption = None,
    epochs: EpochsOption = None,
    max_length: MaxLengthOption = 128,
    batch_size: Annotated[int, typer.Option(help="chunks per step")] = 32,
    lr: Annotated[float, typer.Option(help="peak learning rate (AdamW, linear decay)")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay")] = 0.01,
    warmup_ratio: Annotated[float, typer.Option(help="share of steps for linear warmup")] = 0.06,
    holdout_fraction: HoldoutOption = 0.05,
    whole_word_mask: WholeWordOption = False,
    mlm_probability: Annotated[float, typer.Option(help="share of tokens masked")] = 0.15,
    seed: Annotated[int, typer.Option(help="seed for the split, data order and masking")] = 42,
    precision: PrecisionOption = "auto",
    overwrite: Annotated[bool, typer.Option(help="replace an existing --output folder")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option(help="allow a hub model to run its own code")
    ] = False,
    head_warmup_steps: Annotated[
        int,
        typer.Option(
            help="a model without a masked-LM head: fit the new head this many steps with the "
            "encoder frozen before 'perplexity before' is measured (0: measure the untrained head)"
        ),
    ] = 200,
    track: TrackOption = None,
    experiment: ExperimentOption = "headstart",
    track_dir: TrackDirOption = None,
    save_every: Annotated[
        int | None,
        typer.Option(
            help="write a checkpoint every N optimizer steps into OUTPUT/checkpoints (the last "
            "2 are kept); --resume OUTPUT continues from the latest"
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="continue the interrupted adapt in this output folder from its latest "
            "checkpoint, with its saved pretraining.json"
        ),
    ] = None,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="a YAML or JSON recipe of adapt settings (keys as the options: max_length or "
            "max-length; corpus a file or a list); options given here win over it",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Continue masked-LM pretraining of an encoder on a domain corpus (or the task's own
    texts); the output folder works as --model in fit and every other command."""
    from headstart.errors import ConfigError
    from headstart.pretraining.run import AdaptConfig, resumed_adapt_config
    from headstart.pretraining.run import adapt as run_adapt

    given = typed_options(ctx)
    if resume is not None:
        typed = [n for n in given if n not in ("resume", "quiet")]
        if typed:
            option = "config" if typed[0] == "config_file" else typed[0].replace("_", "-")
            raise ConfigError(
                f"--resume continues {resume} with the settings in its pretraining.json; drop "
                f"--{option}"
            )
        result = run_adapt(resumed_adapt_config(resume, quiet), resume=True)
        report(result.metrics, result.output)
        return
    if config_file is not None:  # the recipe, with the options typed here winning
        from headstart.config.recipes import adapt_recipe_config

        del given["config_file"]
        result = run_adapt(adapt_recipe_config(config_file, given))
        report(result.metrics, result.output)
        return
    if not corpus or output is None:
        missing = "--corpus" if not corpus else "--output"
        raise ConfigError(f"missing option {missing}; adapt needs --corpus and --output")
    config = AdaptConfig(
        corpus=corpus, output=output, model=model, text_column=text_column, encoding=encoding,
        steps=steps, epochs=epochs, max_length=max_length, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, warmup_ratio=warmup_ratio, holdout_fraction=holdout_fraction,
        whole_word_mask=whole_word_mask, mlm_probability=mlm_probability, seed=seed,
        precision=precision, overwrite=overwrite, trust_remote_code=trust_remote_code,
        head_warmup_steps=head_warmup_steps, track=track, experiment=experiment,
        track_dir=track_dir, save_every=save_every, quiet=quiet,
    )  # fmt: skip
    result = run_adapt(config)
    report(result.metrics, result.output)
