"""A bi-encoder's head starts from what the pretrained encoder already knows: the cosine
similarity of the two texts, fitted to the task's targets.

A sentence-embedding model (minilm) is trained so that the cosine of two texts' vectors means
something. A randomly initialised head on [u * v, |u - v|] throws that away: its random
directions send random gradients into the encoder while the head is still finding its
scale. On STS-B (minilm, full; a prototype of this loop) dev Pearson fell from 0.87 (the
untrained cosine) to 0.60 after one epoch from a random head, and rose to 0.886 from this
start. The cosine start: the head's u * v block gets one weight per output for every dimension
(their sum is the cosine), fitted on a sample of training pairs; the |u - v| block starts at
zero and is learnt like any head weight. Each task fits its own function of the cosine
(``Task.cosine_start``); the bi-encoder (``tasks.pairs.BiEncoding``) knows where the cosine
and its weights sit.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from headstart.core.precision import autocast
from headstart.data.batching import Encoded, collate, sorted_batches
from headstart.models.classifier import TextClassifier
from headstart.tasks import Task

SAMPLE = 2000  # training pairs the fit reads: enough for 1-2 numbers per output


def pair_cosines(
    model: TextClassifier, encoded: Encoded, rows: list[int], precision: str, device: str
) -> np.ndarray:
    """Cosine similarity of each row's two texts under the current encoder."""
    was_training = model.training
    infer = model.inference_copy(precision)
    infer.eval()
    out = np.empty(len(rows), dtype=np.float64)
    sample = Encoded({k: [v[i] for i in rows] for k, v in encoded.columns.items()}, encoded.pad_id)
    with torch.inference_mode(), autocast(precision, device):
        for idx in sorted_batches(sample.lengths, 64):
            batch = {k: v.to(device) for k, v in collate(sample, idx).items()}
            features = infer.encode(**batch).float()
            out[idx] = model.pairing.cosines(features).cpu().numpy()
    model.train(was_training)
    return out


def start_head_from_cosine(
    model: TextClassifier,
    encoded: Encoded,
    targets: torch.Tensor,
    task: Task,
    precision: str,
    device: str,
    seed: int,
    features: torch.Tensor | None = None,
) -> str:
    """Set the head of a bi-encoder to a fitted function of the cosine; returns a console note.
    ``features``: the split's [u * v, |u - v|] where already computed (a frozen encoder's
    cache), read instead of running the encoder again."""
    rows = list(range(len(encoded)))
    if len(rows) > SAMPLE:
        rows = sorted(random.Random(seed).sample(rows, SAMPLE))
    if features is not None:
        cosines = model.pairing.cosines(features[rows].double()).numpy()
    else:
        cosines = pair_cosines(model, encoded, rows, precision, device)
    fitted = task.cosine_start(cosines, targets[rows].numpy())
    if fitted is None:
        return ""
    model.pairing.start_head(model.head, *fitted)
    spread = f"cosines {cosines.mean():.2f} ± {cosines.std():.2f}"
    return (
        f"bi-encoder: the head starts from the cosine similarity, fitted on {len(rows)} "
        f"training pairs ({spread})"
    )
