"""Typed, validated settings for a fine-tuning run, saved as ``config.json`` in the run folder."""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from headstart.config.files import load_recipe
from headstart.config.names import (
    PAIR_ENCODINGS,
    POOLINGS,
    PRECISIONS,
    STRATEGY_NAMES,
    TASK_NAMES,
    tracker_names,
)
from headstart.errors import ConfigError


@dataclass
class FitConfig:
    """Everything needed to reproduce a ``fit`` run. ``None`` means "use the strategy default"."""

    data: str = field(metadata={"help": "training file, or a builtin dataset name (bbc-news)"})
    eval_data: str | None = field(default=None, metadata={"help": "evaluation file"})
    test_data: str | None = field(default=None, metadata={"help": "test file"})
    model: str = field(default="minilm", metadata={"help": "hub id, local folder or 'minilm'"})
    strategy: str = field(
        default="full", metadata={"help": "full, partial, head, lora, bitfit or gradual"}
    )
    freeze_layers: int | None = field(default=None, metadata={"help": "partial: layers to freeze"})
    pooling: str = field(default="mean", metadata={"help": "mean, cls or pooler"})
    task: str | None = field(
        default=None, metadata={"help": "classification, multilabel, regression or tokens"}
    )
    tag_column: str | None = None  # tokens: CoNLL column number, or the JSON tags field
    # tokens: case markers before capitalised words; None: where the tokenizer lower-cases and
    # the encoder is trained (not head)
    case_markers: bool | None = None
    text_column: str | None = None
    text_pair_column: str | None = None
    # symmetric pair tasks (similarity, paraphrase): also train on each pair the other way round
    pair_swap: bool = False
    # pairs: "cross" (one input, the texts attend to each other) or "bi" (encoded apart, compared)
    pair_encoding: str = "cross"
    label_separator: str | None = None
    threshold: float = 0.5
    tune_threshold: bool = False
    label_column: str | None = None  # default: label, labels, score, target, class, category
    encoding: str = "utf-8"
    eval_fraction: float = 0.1
    strict: bool = False
    epochs: int | None = None
    lr: float | None = None
    head_lr: float | None = None
    layer_lr_decay: float | None = None  # full/partial/gradual: lr x F per layer from the top
    lora_rank: int = 8
    lora_alpha: float | None = None  # default 2 x rank
    lora_targets: str | None = None  # comma-separated module names; default found by structure
    unfreeze_every: str | None = None  # gradual: "1" or "1epochs" (epochs), "40steps"
    patience: int | None = None  # early stopping: evaluations without improvement
    class_weights: str | None = None  # "auto": balanced class weights in the loss
    calibrate: bool = True  # classification: temperature scaling on the eval split
    train_size: int | None = None  # use a stratified, seeded subset of N training examples
    batch_size: int = 32
    max_length: int = 256
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    dropout: float = 0.1
    attention_dropout: float | None = 0.0
    seed: int = 42
    precision: str = "auto"
    cache: bool = True
    cache_dir: str | None = None
    track: str | None = None  # "mlflow", "tensorboard" or both, comma-separated
    experiment: str = "headstart"  # the MLflow experiment
    track_dir: str | None = None  # tensorboard: DIR/<run name>/ (default RUN_DIR/tensorboard)
    output: str | None = None
    overwrite: bool = False
    save_every: int | None = None  # checkpoint every N optimizer steps into RUN_DIR/checkpoints
    trust_remote_code: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGY_NAMES:
            raise ConfigError(
                f"unknown strategy '{self.strategy}'; choose one of: {', '.join(STRATEGY_NAMES)}"
            )
        if self.pooling not in POOLINGS:
            raise ConfigError(
                f"unknown pooling '{self.pooling}'; choose one of: {', '.join(POOLINGS)}"
            )
        if self.pair_encoding not in PAIR_ENCODINGS:
            raise ConfigError(
                f"unknown pair encoding '{self.pair_encoding}'; choose one of: "
                f"{', '.join(PAIR_ENCODINGS)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"unknown precision '{self.precision}'; choose one of: {', '.join(PRECISIONS)}"
            )
        positive = {"batch_size": self.batch_size, "max_length": self.max_length}
        positive |= {"epochs": self.epochs, "head_lr": self.head_lr}
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.lr is not None and self.lr < 0:
            raise ConfigError(f"--lr must be 0 or more, got {self.lr}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigError(f"--eval-fraction must be between 0 and 1, got {self.eval_fraction}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        for name, value in (
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
        ):
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        if self.task is not None and self.task not in TASK_NAMES:
            raise ConfigError(f"unknown task '{self.task}'; choose one of: {', '.join(TASK_NAMES)}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            raise ConfigError(f"--freeze-layers must be 0 or more, got {self.freeze_layers}")
        if self.max_length < 8:
            raise ConfigError(f"--max-length must be at least 8, got {self.max_length}")
        self._check_new_options()

    def _check_new_options(self) -> None:
        if self.layer_lr_decay is not None:
            if not 0.0 < self.layer_lr_decay <= 1.0:
                raise ConfigError(f"--layer-lr-decay must be in (0, 1], got {self.layer_lr_decay}")
            if self.strategy not in ("full", "partial", "gradual"):
                raise ConfigError(
                    "--layer-lr-decay works with --strategy full, partial or gradual, "
                    f"not {self.strategy}"
                )
        for name, value in (
            ("lora_rank", self.lora_rank),
            ("lora_alpha", self.lora_alpha),
            ("patience", self.patience),
            ("train_size", self.train_size),
            ("save_every", self.save_every),
        ):
            if value is not None and value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.lora_targets is not None and not lora_target_list(self.lora_targets):
            raise ConfigError(
                "--lora-targets: give module names separated by commas, e.g. query,value"
            )
        if self.unfreeze_every is not None:
            parse_unfreeze_every(self.unfreeze_every)
        if self.track is not None:
            tracker_names(self.track)
        if self.class_weights not in (None, "none", "auto"):
            raise ConfigError(
                f"unknown --class-weights '{self.class_weights}'; choose auto or none"
            )

    @property
    def lora_target_names(self) -> tuple[str, ...] | None:
        return lora_target_list(self.lora_targets) if self.lora_targets else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> FitConfig:
        """Settings from a recipe or ``config.json``: keys are field names (dashes allowed),
        each value checked against the field's type; errors name ``source`` and the key."""
        checked = check_types(values, source)
        if "data" not in checked:
            raise ConfigError(f"{source}: the setting 'data' is required (the training file)")
        try:
            return cls(**checked)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FitConfig:
        """A ``config.json`` or a YAML/JSON recipe (see ``headstart.config.recipes``)."""
        return cls.from_dict(load_recipe(Path(path)), str(path))


TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def check_types(
    values: dict[str, Any], source: str, config_class: type = FitConfig
) -> dict[str, Any]:
    """``values`` with dashed keys made field names and each value checked against (and, for
    an int given to a float field or a number to a string field, converted to) its type in
    ``config_class`` (FitConfig; adapt's recipes: AdaptConfig)."""
    hints = typing.get_type_hints(config_class)
    return check_settings(values, source, {f.name: hints[f.name] for f in fields(config_class)})


def check_settings(values: dict[str, Any], source: str, hints: dict[str, Any]) -> dict[str, Any]:
    """:func:`check_types` against ``hints``, a mapping of setting name to type (the options
    of a command, for ``compare --config``)."""
    known = list(hints)
    checked: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            spelled = [c.replace("_", "-") if "-" in str(key) else c for c in close]
            fix = f"did you mean '{spelled[0]}'?" if close else f"valid: {', '.join(known)}"
            raise ConfigError(f"{source}: unknown setting '{key}'; {fix}")
        if name in checked:
            raise ConfigError(f"{source}: '{key}' is given twice (as - and _ spellings)")
        checked[name] = _checked_value(source, key, value, hints[name])
    return checked


def _checked_value(source: str, key: str, value: Any, hint: Any) -> Any:
    kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    kind = kinds[0]
    if value is None and len(kinds) < len(typing.get_args(hint)):
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and number and isinstance(value, int):
        return value
    if kind is float and number:
        return float(value)
    if kind is str and (isinstance(value, str) or number):  # unfreeze_every: 1, tag_column: 3
        return str(value)
    shown = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    raise ConfigError(f"{source}: '{key}' must be {TYPE_NAMES[kind]}, got {shown}")


def lora_target_list(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())


def parse_unfreeze_every(value: str) -> tuple[float, str]:
    """``"1"``/``"0.5epochs"`` → (1.0, "epochs"); ``"40steps"`` → (40.0, "steps")."""
    text = str(value).strip().lower().replace(" ", "")
    unit = "epochs"
    for suffix, name in (("steps", "steps"), ("step", "steps"), ("epochs", "epochs"),
                         ("epoch", "epochs")):  # fmt: skip
        if text.endswith(suffix):
            text, unit = text[: -len(suffix)], name
            break
    try:
        amount = float(text)
    except ValueError:
        amount = -1.0
    if amount <= 0 or (unit == "steps" and not amount.is_integer()):
        raise ConfigError(
            f"--unfreeze-every: expected a positive number of epochs (1, 0.5epochs) or steps "
            f"(40steps), got '{value}'"
        )
    return amount, unit
