"""LoRA through peft: where the adapters go, adding them, and merging them back.

Targets are found by structure, like the layers: in the first transformer layer, the first
module with three or more square ``hidden x hidden`` linear children is the attention, and its
first and third such children are the query and value projections (BERT's query/key/value,
DistilBERT's q_lin/k_lin/v_lin, DeBERTa's query_proj/key_proj/value_proj). A fused projection
(one ``hidden -> 3 x hidden`` linear) is targeted whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from headstart.errors import ConfigError, ModelError
from headstart.models.layers import discover

if TYPE_CHECKING:
    from headstart.models.classifier import TextClassifier
    from headstart.strategies import StrategyOptions


def find_targets(encoder: nn.Module) -> list[str]:
    """Leaf names of the query and value projections, e.g. ["query", "value"]."""
    parts = discover(encoder)
    layer = parts.layers[0]
    hidden = int(encoder.config.hidden_size)
    for _, module in layer.named_modules():
        children = [(n, c) for n, c in module.named_children() if isinstance(c, nn.Linear)]
        square = [n for n, c in children if c.in_features == c.out_features == hidden]
        if len(square) >= 3:
            return [square[0], square[2]]
        fused = [n for n, c in children if c.in_features == hidden and c.out_features == 3 * hidden]
        if fused:
            return fused[:1]
    raise ModelError(
        f"cannot find the attention projections of {type(encoder).__name__}; "
        f"name them with --lora-targets"
    )


def add_adapters(model: TextClassifier, options: StrategyOptions) -> list[str]:
    """Wrap ``model.encoder`` in a peft model with LoRA adapters; only the adapters (and the
    pooler, when the head reads it) train. Returns the target names."""
    from peft import LoraConfig, get_peft_model

    targets = list(options.lora_targets or find_targets(model.encoder))
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.encoder.named_modules()}
    missing = [t for t in targets if t not in leaves]
    if missing:
        modules = model.encoder.named_modules()
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in modules if isinstance(m, nn.Linear)})
        raise ConfigError(
            f"--lora-targets: no module named {', '.join(missing)} in "
            f"{type(model.encoder).__name__}; its linear layers are: {', '.join(linear)}"
        )
    config = LoraConfig(
        r=options.lora_rank,
        lora_alpha=options.lora_alpha or 2 * options.lora_rank,
        lora_dropout=options.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    model.encoder = get_peft_model(model.encoder, config)
    if model.pooling == "pooler":
        for p in model.encoder.get_base_model().pooler.parameters():
            p.requires_grad_(True)
    return targets


def merge_adapters(model: TextClassifier) -> None:
    """Fold the adapters into the weights: the encoder is a plain transformers model again,
    so saving, prediction and export need no peft."""
    from peft import PeftModel

    if isinstance(model.encoder, PeftModel):
        model.encoder = model.encoder.merge_and_unload()
