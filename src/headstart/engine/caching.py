"""Compute nothing twice: what a frozen encoder (or frozen lower layers) produces is computed
once per split, in inference mode, and kept on disk for the next run.

- ``head``: the pooled vector of every text. Epochs then train a linear layer on a matrix.
- ``partial``: the hidden states after the last frozen layer, stored as bf16. Epochs then run
  only the trainable upper layers. Frozen layers therefore run without dropout, which is what
  inference does anyway; ``--no-cache`` keeps the plain behaviour (dropout in frozen layers).

Cache keys hash the encoder's weights and config, the token ids (so tokenizer, max length and
data are covered), the pooling or layer index, and the precision used to compute them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import torch
from torch import nn

from headstart.core.precision import autocast
from headstart.data.batching import Encoded, collate, sorted_batches
from headstart.models.classifier import TextClassifier
from headstart.models.layers import EncoderParts, discover


def default_cache_dir() -> Path:
    env = os.environ.get("HEADSTART_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "headstart"


def weights_fingerprint(module: nn.Module) -> str:
    digest = hashlib.sha256()
    config = getattr(module, "config", None)
    if config is not None:
        digest.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


def tokens_fingerprint(encoded: Encoded) -> str:
    digest = hashlib.sha256()
    for name in sorted(encoded.columns):
        digest.update(name.encode())
        for row in encoded.columns[name]:
            digest.update(np.asarray(row, dtype=np.int32).tobytes())
            digest.update(b"|")
    return digest.hexdigest()[:24]


def _key(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def _load(path: Path) -> np.ndarray:
    # Memory-map what would take more than a quarter of the free RAM; load the rest.
    big = path.stat().st_size > psutil.virtual_memory().available // 4
    return np.load(path, mmap_mode="r" if big else None)


@dataclass
class CacheContext:
    directory: Path | None  # None: keep in memory only
    model_fingerprint: str
    precision: str
    device: str
    batch_size: int
    hits: int = 0
    misses: int = 0
    _copy: TextClassifier | None = None

    def inference_model(self, model: TextClassifier) -> TextClassifier:
        """The model with weights cast once to the cache precision (made on first use)."""
        if self._copy is None:
            self._copy = model.inference_copy(self.precision)
        return self._copy


def _inputs_to(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


# -- head: pooled features -------------------------------------------------------------------
def pooled_features(model: TextClassifier, encoded: Encoded, ctx: CacheContext) -> torch.Tensor:
    """(N, hidden) float32 pooled vectors, in input order."""
    key = _key(
        "pooled",
        ctx.model_fingerprint,
        model.pooling + model.pairing.cache_tag,
        tokens_fingerprint(encoded),
        ctx.precision,
    )
    path = ctx.directory / f"pooled-{key}.npy" if ctx.directory else None
    if path is not None and path.exists():
        ctx.hits += 1
        return torch.from_numpy(np.array(_load(path)))
    ctx.misses += 1
    out = torch.empty(len(encoded), model.hidden_size)
    model.eval()
    infer = ctx.inference_model(model)
    with torch.inference_mode(), autocast(ctx.precision, ctx.device):
        for idx in sorted_batches(encoded.lengths, ctx.batch_size):
            batch = _inputs_to(collate(encoded, idx), ctx.device)
            out[idx] = infer.encode(**batch).float().cpu()
    if path is not None:
        _atomic_save(path, out.numpy())
    return out


# -- partial: hidden states after the frozen prefix -----------------------------------------
class _Passthrough(nn.Module):
    """Stands in for the embedding side: hands the cached hidden states (given to the encoder as
    ``inputs_embeds``) straight to the first trainable layer."""

    def forward(self, *args: object, inputs_embeds: torch.Tensor | None = None, **kwargs: object):
        if inputs_embeds is not None:
            return inputs_embeds
        # positional calls: DistilBERT passes (input_ids=None, inputs_embeds), ELECTRA's
        # projection passes (hidden_states,)
        return [a for a in args if isinstance(a, torch.Tensor)][-1]


def _split_name(dotted: str) -> tuple[str, str]:
    parent, _, attr = dotted.rpartition(".")
    return parent, attr


def _embedding_side(encoder: nn.Module, parts: EncoderParts) -> list[str]:
    """Top-level children that are neither the layer stack's owner nor the pooler: the
    embeddings and whatever sits between them and the layers (ELECTRA's projection)."""
    top_layers = parts.layers_name.split(".")[0]
    names = []
    for name, child in encoder.named_children():
        if name == top_layers or child is parts.pooler:
            continue
        if any(True for _ in child.parameters()):
            names.append(name)
    return names


@contextlib.contextmanager
def suffix_only(encoder: nn.Module, parts: EncoderParts, start: int) -> Iterator[None]:
    """Make ``encoder(inputs_embeds=h, attention_mask=m)`` run only layers ``start..N-1`` on ``h``.

    Whether this reproduces the full model is checked once per run (``check_suffix_matches``);
    an architecture wired differently falls back to the plain path."""
    lay_parent, lay_attr = _split_name(parts.layers_name)
    lay_owner = encoder.get_submodule(lay_parent) if lay_parent else encoder
    originals = {name: getattr(encoder, name) for name in _embedding_side(encoder, parts)}
    for name in originals:
        setattr(encoder, name, _Passthrough())
    setattr(lay_owner, lay_attr, nn.ModuleList(list(parts.layers)[start:]))
    try:
        yield
    finally:
        for name, module in originals.items():
            setattr(encoder, name, module)
        setattr(lay_owner, lay_attr, parts.layers)


@contextlib.contextmanager
def prefix_only(encoder: nn.Module, parts: EncoderParts, stop: int) -> Iterator[list[torch.Tensor]]:
    """Run only layers ``0..stop-1``; yields a list that receives the last one's output."""
    lay_parent, lay_attr = _split_name(parts.layers_name)
    lay_owner = encoder.get_submodule(lay_parent) if lay_parent else encoder
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)  # type: ignore[index]

    handle = parts.layers[stop - 1].register_forward_hook(hook)
    setattr(lay_owner, lay_attr, nn.ModuleList(list(parts.layers)[:stop]))
    try:
        yield captured
    finally:
        handle.remove()
        setattr(lay_owner, lay_attr, parts.layers)


@dataclass
class PrefixStates:
    """Hidden states of N texts: all tokens in one flat (tokens, hidden) bf16 array, held in
    memory, or in a raw file on disk read row by row (``pread``), so that a large cache sits in
    the page cache, which the kernel can reclaim, instead of in the process's own memory."""

    offsets: np.ndarray  # N + 1 row starts, in tokens
    hidden: int
    flat: np.ndarray | None = None  # uint16 view of bf16, when held in memory
    path: Path | None = None  # raw little-endian uint16 file, when on disk

    def __post_init__(self) -> None:
        self._fd = os.open(self.path, os.O_RDONLY) if self.path is not None else None

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]

    @property
    def lengths(self) -> list[int]:
        return np.diff(self.offsets).tolist()

    def row(self, i: int) -> np.ndarray:
        start, stop = int(self.offsets[i]), int(self.offsets[i + 1])
        if self.flat is not None:
            return self.flat[start:stop]
        size = (stop - start) * self.hidden * 2
        data = os.pread(self._fd, size, start * self.hidden * 2)  # type: ignore[arg-type]
        return np.frombuffer(data, dtype=np.uint16).reshape(stop - start, self.hidden)

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = [int(self.offsets[i + 1] - self.offsets[i]) for i in idx]
        width = max(lengths)
        states = np.zeros((len(idx), width, self.hidden), dtype=np.uint16)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, (i, n) in enumerate(zip(idx, lengths, strict=True)):
            states[r, :n] = self.row(i)
            mask[r, :n] = 1
        tensor = torch.from_numpy(states).view(torch.bfloat16)
        return tensor, torch.from_numpy(mask)


def token_states(model: TextClassifier, encoded: Encoded, ctx: CacheContext) -> PrefixStates:
    """The whole frozen encoder's output for every token (token classification, ``head``)."""
    return prefix_states(model, encoded, None, ctx)


def prefix_states(
    model: TextClassifier, encoded: Encoded, frozen: int | None, ctx: CacheContext
) -> PrefixStates:
    """Hidden states after layer ``frozen - 1``; ``None``: the encoder's final output."""
    key = _key(
        "prefix", ctx.model_fingerprint, str(frozen), tokens_fingerprint(encoded), ctx.precision
    )
    hidden = model.hidden_size
    path = ctx.directory / f"prefix-{key}.bin" if ctx.directory else None
    offsets_path = path.with_name(f"prefix-{key}.offsets.npy") if path else None
    if path is not None and path.exists() and offsets_path is not None and offsets_path.exists():
        ctx.hits += 1
        return PrefixStates(np.load(offsets_path), hidden, path=path)
    ctx.misses += 1
    lengths = encoded.lengths
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    flat: np.ndarray | None = None
    handle = None
    if path is None:
        flat = np.empty((int(offsets[-1]), hidden), dtype=np.uint16)
    else:  # rows go straight to a file: the whole cache is never in this process's memory
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    model.eval()
    infer = ctx.inference_model(model)
    parts = discover(infer.encoder)
    try:
        with (
            torch.inference_mode(),
            autocast(ctx.precision, ctx.device),
            prefix_only(infer.encoder, parts, frozen or parts.num_layers) as captured,
        ):
            for idx in sorted_batches(lengths, ctx.batch_size):
                batch = _inputs_to(collate(encoded, idx), ctx.device)
                captured.clear()
                output = infer.encoder(**infer.encoder_inputs(batch))
                if frozen is None:  # the encoder's own output (after any final norm)
                    captured.append(output.last_hidden_state)
                states = captured[-1].to(torch.bfloat16).cpu().view(torch.uint16).numpy()
                for r, i in enumerate(idx):
                    rows = np.ascontiguousarray(states[r, : lengths[i]])
                    if flat is not None:
                        flat[offsets[i] : offsets[i + 1]] = rows
                    else:
                        at = int(offsets[i]) * hidden * 2
                        os.pwrite(handle, rows.tobytes(), at)  # type: ignore[arg-type]
    except BaseException:
        if handle is not None:
            os.close(handle)
            os.unlink(tmp)
        raise
    if handle is not None:
        os.close(handle)
    if path is None or offsets_path is None:
        return PrefixStates(offsets, hidden, flat=flat)
    os.replace(tmp, path)
    _atomic_save(offsets_path, offsets)  # last: its presence marks a complete cache entry
    return PrefixStates(offsets, hidden, path=path)


def check_suffix_matches(model: TextClassifier, encoded: Encoded, frozen: int, device: str) -> bool:
    """Does running the upper layers on stored prefix states reproduce the full model? Checked
    once per run on a few texts, in fp32 so that only the wiring is tested, so that an
    architecture wired differently falls back to the plain path instead of training wrong."""
    sample = Encoded(
        {k: v[: min(4, len(encoded))] for k, v in encoded.columns.items()}, encoded.pad_id
    )
    idx = list(range(len(sample)))
    states = prefix_states(model, sample, frozen, CacheContext(None, "", "fp32", device, len(idx)))
    parts = discover(model.encoder)
    model.eval()
    with torch.inference_mode():
        reference = model.encode(**_inputs_to(collate(sample, idx), device)).float()
        hidden, mask = states.batch(idx)
        try:
            with suffix_only(model.encoder, parts, frozen):
                cached = model.encode(
                    inputs_embeds=hidden.float().to(device), attention_mask=mask.to(device)
                ).float()
        except (RuntimeError, TypeError, ValueError, AttributeError, IndexError):
            return False
    error = (cached - reference).abs()
    # bf16 storage alone gives ~0.1% here; a wrong wiring gives ~1% even on random weights
    return bool(error.mean() / reference.abs().mean().clamp(min=1e-9) < 0.004)
