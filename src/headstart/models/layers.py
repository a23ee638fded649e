"""Find an encoder's parts by structure, not by BERT attribute names.

An encoder is seen as ordered parameter groups: the embedding side (everything that is neither
a transformer layer nor the pooler), then layer 0 … layer N-1, then the pooler. The layer stack
is the longest ``nn.ModuleList`` of identical blocks; this holds for BERT, RoBERTa, DistilBERT,
ELECTRA, DeBERTa-v2 and most other encoders without naming any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from headstart.errors import ModelError


@dataclass
class EncoderParts:
    layers_name: str  # dotted path of the layer ModuleList, e.g. "encoder.layer"
    layers: nn.ModuleList
    embeddings_name: str  # dotted path of the module that owns the input embeddings
    embeddings: nn.Module
    pooler: nn.Module | None

    @property
    def num_layers(self) -> int:
        return len(self.layers)


def find_layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        kinds = {type(child) for child in module}
        if len(kinds) != 1 or not any(True for _ in module[0].parameters()):
            continue
        if best is None or len(module) > len(best[1]):
            best = (name, module)
    if best is None:
        raise ModelError(
            f"cannot find the transformer layers of {type(model).__name__}; "
            f"use --strategy full or head with this model"
        )
    return best


def discover(model: nn.Module) -> EncoderParts:
    layers_name, layers = find_layer_stack(model)
    embeddings_name, embeddings = "", None
    get_input = getattr(model, "get_input_embeddings", None)
    if callable(get_input):
        word = get_input()
        for name, module in model.named_modules():
            top_level = bool(name) and "." not in name and layers_name.split(".")[0] != name
            if top_level and any(m is word for m in module.modules()):
                embeddings_name, embeddings = name, module
                break
    if embeddings is None:
        raise ModelError(
            f"cannot find the input embeddings of {type(model).__name__}; "
            f"use --strategy full or head with this model"
        )
    pooler = getattr(model, "pooler", None)
    return EncoderParts(layers_name, layers, embeddings_name, embeddings, pooler)


def parameter_groups(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """Ordered groups: ("embeddings", …), ("layer.0", …) … ("layer.N-1", …), ("pooler", …)."""
    parts = discover(model)
    layer_ids = {}
    for i, layer in enumerate(parts.layers):
        for p in layer.parameters():
            layer_ids[id(p)] = i
    pooler_ids = {id(p) for p in parts.pooler.parameters()} if parts.pooler is not None else set()
    embeddings: list[nn.Parameter] = []
    per_layer: list[list[nn.Parameter]] = [[] for _ in parts.layers]
    pooler: list[nn.Parameter] = []
    for p in model.parameters():
        if id(p) in layer_ids:
            per_layer[layer_ids[id(p)]].append(p)
        elif id(p) in pooler_ids:
            pooler.append(p)
        else:
            embeddings.append(p)
    groups = [("embeddings", embeddings)]
    groups += [(f"layer.{i}", ps) for i, ps in enumerate(per_layer)]
    groups.append(("pooler", pooler))
    return groups
