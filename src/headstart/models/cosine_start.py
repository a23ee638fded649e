"""A bi-encoder's head starts from what the pretrained encoder already knows: the cosine
similarity of the two texts, fitted to the task's targets.

A sentence-embedding model (minilm) is trained so that the cosine of two texts' vectors means
something. A randomly initialised head on [u * v, |u - v|] throws that away: its random
directions send random gradients into the encoder while the head is still finding its
scale. On STS-B (minilm, full; a prototype of this loop) dev Pearson fell from 0.87 (the
untrained cosine) to 0.60 after one epoch from a random head, and rose to 0.886 from this
start. The cosine start: the head's u * v block gets one weight per output for every dimension
(their sum is the cosine), fitted on a sample of training pairs; the |u - v| block starts at
zero and is learnt like any head weight.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from headstart.core.precision import autocast
from headstart.data.batching import Encoded, collate, sorted_batches
from headstart.models.classifier import TextClassifier
from headstart.tasks import ClassificationTask, MultiLabelTask, RegressionTask, Task

SAMPLE = 2000  # training pairs the fit reads: enough for 1-2 numbers per output


def pair_cosines(
    model: TextClassifier, encoded: Encoded, rows: list[int], precision: str, device: str
) -> np.ndarray:
    """Cosine similarity of each row's two texts under the current encoder."""
    width = model.hidden_size // 2
    was_training = model.training
    infer = model.inference_copy(precision)
    infer.eval()
    out = np.empty(len(rows), dtype=np.float64)
    sample = Encoded({k: [v[i] for i in rows] for k, v in encoded.columns.items()}, encoded.pad_id)
    with torch.inference_mode(), autocast(precision, device):
        for idx in sorted_batches(sample.lengths, 64):
            batch = {k: v.to(device) for k, v in collate(sample, idx).items()}
            out[idx] = infer.encode(**batch)[:, :width].float().sum(-1).cpu().numpy()
    model.train(was_training)
    return out


def _logistic(cosines: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class (slope, intercept) of a multinomial logistic regression on the cosine alone;
    two classes get the symmetric split of the binary model's logit."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=100.0, max_iter=1000).fit(cosines[:, None], labels)
    slopes, intercepts = fit.coef_[:, 0], fit.intercept_
    if len(fit.classes_) == 2:
        slopes = np.array([-slopes[0] / 2, slopes[0] / 2])
        intercepts = np.array([-intercepts[0] / 2, intercepts[0] / 2])
    return slopes, intercepts


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
    width = model.hidden_size // 2
    if features is not None:
        cosines = features[rows, :width].double().sum(-1).numpy()
    else:
        cosines = pair_cosines(model, encoded, rows, precision, device)
    outputs = model.head.out_features
    slopes, intercepts = np.zeros(outputs), np.zeros(outputs)
    wanted = targets[rows].numpy()
    if isinstance(task, RegressionTask):
        scaled = (wanted - task.mean) / task.std  # the head predicts standardised targets
        slope, intercept = np.polyfit(cosines, scaled, 1)
        slopes[0], intercepts[0] = slope, intercept
    elif isinstance(task, ClassificationTask):
        present = np.unique(wanted)
        if len(present) < 2:
            return ""
        fitted_slopes, fitted_intercepts = _logistic(cosines, wanted)
        slopes[present], intercepts[present] = fitted_slopes, fitted_intercepts
        intercepts[np.setdiff1d(np.arange(outputs), present)] = -10.0  # unseen in the sample
    elif isinstance(task, MultiLabelTask):
        for label in range(outputs):
            column = wanted[:, label]
            if 0 < column.sum() < len(column):
                fitted_slopes, fitted_intercepts = _logistic(cosines, column.astype(int))
                slopes[label], intercepts[label] = fitted_slopes[1] * 2, fitted_intercepts[1] * 2
            else:
                intercepts[label] = -10.0 if column.sum() == 0 else 10.0
    else:
        return ""
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.weight[:, :width] = torch.from_numpy(slopes).float()[:, None]
        model.head.bias.copy_(torch.from_numpy(intercepts).float())
    spread = f"cosines {cosines.mean():.2f} ± {cosines.std():.2f}"
    return (
        f"bi-encoder: the head starts from the cosine similarity, fitted on {len(rows)} "
        f"training pairs ({spread})"
    )
