"""Settings of ``adapt`` and ``pretrain``: typed, checked at construction, saved as
``pretraining.json`` beside the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from headstart.config.names import PRECISIONS, tracker_names
from headstart.errors import ConfigError

# attention-probability dropout while training: 0 lets the fused attention kernel run
TRAIN_ATTENTION_DROPOUT = 0.0


@dataclass
class MLMConfig:
    """What ``adapt`` and ``pretrain`` share: the corpus, the loop and the output."""

    corpus: list[str]
    output: str
    text_column: str | None = None
    encoding: str = "utf-8"
    max_length: int = 128
    steps: int | None = None
    epochs: int | None = None  # neither steps nor epochs: one epoch
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    holdout_fraction: float = 0.05
    whole_word_mask: bool = False
    mlm_probability: float = 0.15
    seed: int = 42
    precision: str = "auto"
    overwrite: bool = False
    quiet: bool = False
    track: str | None = None  # "mlflow", "tensorboard" or both, as fit's --track
    experiment: str = "headstart"
    track_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __post_init__(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise ConfigError(
                f"--steps {self.steps} and --epochs {self.epochs} both given; pass one of them"
            )
        for name in ("steps", "epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {value}: expected 1 or more")
        if not 0 < self.mlm_probability < 1:
            raise ConfigError(
                f"--mlm-probability {self.mlm_probability}: expected a share between 0 and 1, "
                f"e.g. 0.15"
            )
        if self.lr <= 0:
            raise ConfigError(f"--lr {self.lr}: expected a positive learning rate, e.g. 1e-4")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision {self.precision}: expected auto, fp32, bf16 or fp16")
        if self.track is not None:
            tracker_names(self.track)  # an unknown name fails here


@dataclass
class AdaptConfig(MLMConfig):
    model: str = "minilm"
    trust_remote_code: bool = False
    # A new masked-LM head is fitted first with the encoder frozen, so that "perplexity before"
    # measures what the source encoder knows of the domain, not an untrained head.
    head_warmup_steps: int = 200
    head_warmup_lr: float = 1e-3
    save_every: int | None = None  # a checkpoint every N steps in OUTPUT/checkpoints

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.save_every is not None and self.save_every < 1:
            raise ConfigError(f"--save-every {self.save_every}: expected 1 or more steps")


@dataclass
class PretrainConfig(MLMConfig):
    size: str | None = None
    config: str | None = None  # a BertConfig JSON file instead of --size
    tokenizer: str = "minilm"
    train_tokenizer: bool = False
    vocab_size: int = 8000
    lr: float = 5e-4  # a small model from scratch takes a larger step than one adapted
