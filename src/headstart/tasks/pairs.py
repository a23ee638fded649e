"""How the two texts of a sentence pair reach the head: read together (``cross``) or apart
(``bi``). ``--pair-encoding`` names one; the model, the predictor, the caches, the export and
the model card ask the object instead of comparing the name.

``cross`` (the default) joins both texts into one input, so every layer reads them against
each other. ``bi`` (a bi-encoder, as sentence-transformers') encodes each text on its own and
the head reads [u * v, |u - v|] of their L2-normalised vectors: those features do not depend
on the order of the texts, and the sum of u * v is their cosine similarity, which a
sentence-embedding model such as minilm was trained to make meaningful.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from headstart.config.names import PAIR_ENCODINGS
from headstart.data.batching import PAIR_PREFIX
from headstart.errors import ModelError


class PairEncoding(ABC):
    """What differs between the ways of encoding a pair. Stateless: one instance per name."""

    name: ClassVar[str]
    apart: ClassVar[bool]  # each text encoded on its own (``data.batching.encode``'s ``apart``)
    width: ClassVar[int]  # the head reads ``width`` x the encoder's hidden size
    cache_tag: ClassVar[str] = ""  # part of the cache key of pooled features

    @abstractmethod
    def features(
        self, pooled: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """The features the head reads, from the model's pooling (``pooled(**inputs)``)."""

    def check_pooling(self, pooling: str) -> None:
        """Refuse a pooling this encoding cannot work with (any, by default)."""
        return None

    def meta(self) -> dict[str, Any]:
        """What the model's ``headstart.json`` records about it."""
        return {}

    def graph_inputs(self, names: list[str]) -> list[str]:
        """The inputs of an exported graph that takes the tokenizer outputs ``names``."""
        return names

    def card_lines(self) -> list[str]:
        """The model card's lines about it."""
        return []

    def cosines(self, features: torch.Tensor) -> torch.Tensor:
        """The cosine similarity of each row's two texts, from the features the head reads."""
        raise ModelError(f"--pair-encoding {self.name} has no cosine of two texts' vectors")

    def start_head(self, head: nn.Linear, slopes: np.ndarray, intercepts: np.ndarray) -> None:
        """Set ``head`` to a linear function of the cosine: one slope and intercept per output."""
        raise ModelError(f"--pair-encoding {self.name} has no cosine to start the head from")


PAIR_ENCODING_TYPES: dict[str, PairEncoding] = {}


def register_pair_encoding(cls: type[PairEncoding]) -> type[PairEncoding]:
    """Add a pair encoding to :data:`PAIR_ENCODING_TYPES` under its ``name``."""
    PAIR_ENCODING_TYPES[cls.name] = cls()
    return cls


def pair_encoding(name: str) -> PairEncoding:
    """The pair encoding called ``name`` (``cross`` or ``bi``)."""
    if name not in PAIR_ENCODING_TYPES:
        raise ModelError(f"pair encoding must be {' or '.join(PAIR_ENCODINGS)}, got '{name}'")
    return PAIR_ENCODING_TYPES[name]


@register_pair_encoding
class CrossEncoding(PairEncoding):
    """Both texts in one input (``[CLS] a [SEP] b [SEP]``), or a single text."""

    name = "cross"
    apart = False
    width = 1

    def features(
        self, pooled: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return pooled(**inputs)


@register_pair_encoding
class BiEncoding(PairEncoding):
    """Each text apart; the head reads [u * v, |u - v|] of their normalised vectors."""

    name = "bi"
    apart = True
    width = 2
    cache_tag = "+bi"

    def features(
        self, pooled: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """One encoder call for both texts (``collate`` pads them to one width)."""
        second = {k[len(PAIR_PREFIX) :]: v for k, v in inputs.items() if k.startswith(PAIR_PREFIX)}
        if "input_ids" not in second:
            raise ModelError(
                "this model compares two texts (--pair-encoding bi); give each text its pair"
            )
        first = {k: v for k, v in inputs.items() if not k.startswith(PAIR_PREFIX)}
        both = {k: torch.cat([first[k], second[k]]) for k in first if k in second}
        vectors = nn.functional.normalize(pooled(**both).float(), dim=-1)
        u, v = vectors.chunk(2)
        return torch.cat([u * v, (u - v).abs()], dim=-1)

    def check_pooling(self, pooling: str) -> None:
        if pooling == "tokens":
            raise ModelError("--pair-encoding bi compares two texts; it has no token task")

    def meta(self) -> dict[str, Any]:
        return {"pair_encoding": self.name}

    def graph_inputs(self, names: list[str]) -> list[str]:
        return names + [PAIR_PREFIX + n for n in names]  # the second texts: their own tensors

    def card_lines(self) -> list[str]:
        return [
            "- **Pairs**: each text encoded apart; the head reads [u * v, |u - v|] of their "
            "normalised vectors (`--pair-encoding bi`)"
        ]

    def cosines(self, features: torch.Tensor) -> torch.Tensor:
        """The sum of the u * v block: the cosine, as u and v are normalised."""
        return features[:, : features.shape[-1] // 2].sum(-1)

    def start_head(self, head: nn.Linear, slopes: np.ndarray, intercepts: np.ndarray) -> None:
        """The u * v block gets one weight per output for every dimension (their sum is the
        cosine); the |u - v| block starts at zero and is learnt like any head weight."""
        width = head.in_features // 2
        with torch.no_grad():
            head.weight.zero_()
            head.weight[:, :width] = torch.from_numpy(slopes).float()[:, None]
            head.bias.copy_(torch.from_numpy(intercepts).float())


def cosine_logistic(cosines: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (slope, intercept) of a multinomial logistic regression on the cosine alone;
    two classes get the symmetric split of the binary model's logit. For the tasks' cosine
    starts (:meth:`~headstart.tasks.base.Task.cosine_start`)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=100.0, max_iter=1000).fit(cosines[:, None], labels)
    slopes, intercepts = fit.coef_[:, 0], fit.intercept_
    if len(fit.classes_) == 2:
        slopes = np.array([-slopes[0] / 2, slopes[0] / 2])
        intercepts = np.array([-intercepts[0] / 2, intercepts[0] / 2])
    return slopes, intercepts
