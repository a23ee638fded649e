"""Worker for ``trainer_vs_headstart.py``: fine-tune with ``transformers.Trainer`` and write a JSON
result. Run as its own process by the benchmark; not meant to be used directly.

This is what a typical user writes for the Trainer: a ``datasets.Dataset``, tokenisation with
truncation to ``max_length`` (no padding), ``DataCollatorWithPadding`` (dynamic padding),
``TrainingArguments`` with evaluation every epoch, no checkpoints, no reporting, Trainer's
default precision (fp32) and dataloader defaults. The model is the same as headstart's
``TextClassifier``: encoder → mean pooling over the attention mask → dropout(0.1) → linear head
initialised normal(std=initializer_range) with a zero bias, built right after the same seeded
``from_pretrained`` call, so the head starts from the same weights. The optimizer is given to
the Trainer: AdamW with two learning rates (encoder, head), weight decay on matrices only (as
headstart and Trainer's own default both do), linear warmup over the first ``warmup_ratio`` of
the steps, then linear decay. Gradient clipping is Trainer's default (max norm 1.0), as in
headstart.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import sys
import time
from pathlib import Path

START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from torch import nn  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    get_linear_schedule_with_warmup,
    set_seed,
)
from transformers.modeling_outputs import SequenceClassifierOutput  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - START


def read_rows(path: Path, text_column: str) -> tuple[list[str], list[str | int]]:
    """Texts and labels from a CSV/TSV file with a header (``label`` column)."""
    delimiter = "\t" if path.suffix == ".tsv" else ","
    texts: list[str] = []
    labels: list[str | int] = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter=delimiter):
            label = row["label"].strip()
            texts.append(row[text_column])
            labels.append(int(label) if label.lstrip("-").isdigit() else label)
    return texts, labels


def label_names(labels: list[str | int]) -> list[str]:
    """Class order as headstart's: sorted integers, or else sorted strings."""
    unique = set(labels)
    if all(isinstance(x, int) for x in unique):
        return [str(x) for x in sorted(unique)]  # type: ignore[type-var]
    return sorted(str(x) for x in unique)


class MeanPoolClassifier(nn.Module):
    """encoder → mean pooling → dropout → linear: the same model as headstart's TextClassifier."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), num_labels)
        nn.init.normal_(self.head.weight, std=float(encoder.config.initializer_range))
        nn.init.zeros_(self.head.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def freeze(model: MeanPoolClassifier, strategy: str, freeze_layers: int) -> None:
    encoder = model.encoder
    if strategy == "head":
        encoder.requires_grad_(False)
    elif strategy == "partial":
        encoder.embeddings.requires_grad_(False)
        for layer in encoder.encoder.layer[:freeze_layers]:
            layer.requires_grad_(False)
    # The pooler is unused by mean pooling (it never gets a gradient); freeze it so the
    # trainable-parameter count matches headstart's.
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler.requires_grad_(False)


def build_optimizer(
    model: MeanPoolClassifier, lr: float, head_lr: float, weight_decay: float
) -> torch.optim.AdamW:
    groups = []
    for module, group_lr in ((model.encoder, lr), (model.head, head_lr)):
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]  # no decay on biases and LayerNorm weights
        plain = [p for p in params if p.ndim < 2]
        for chunk, wd in ((decay, weight_decay), (plain, 0.0)):
            if chunk:
                groups.append({"params": chunk, "lr": group_lr, "weight_decay": wd})
    return torch.optim.AdamW(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--train", required=True, type=Path)
    parser.add_argument("--eval", required=True, type=Path)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--strategy", choices=("full", "partial", "head"), required=True)
    parser.add_argument("--freeze-layers", type=int, default=0)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--head-lr", type=float, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--output-json", required=True, type=Path)
    args = parser.parse_args()

    hf_logging.set_verbosity_error()
    timings: dict[str, float] = {"import": IMPORT_SECONDS}

    started = time.perf_counter()
    train_texts, train_labels = read_rows(args.train, args.text_column)
    eval_texts, eval_labels = read_rows(args.eval, args.text_column)
    names = label_names(train_labels)
    index = {name: i for i, name in enumerate(names)}
    train_ds = Dataset.from_dict(
        {"text": train_texts, "label": [index[str(y)] for y in train_labels]}
    )
    eval_ds = Dataset.from_dict({"text": eval_texts, "label": [index[str(y)] for y in eval_labels]})
    timings["read_data"] = time.perf_counter() - started

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    set_seed(args.seed)  # before building: the head's random init follows the seed
    encoder = AutoModel.from_pretrained(args.model_dir)
    model = MeanPoolClassifier(encoder, len(names))
    freeze(model, args.strategy, args.freeze_layers)
    timings["load_model"] = time.perf_counter() - started

    started = time.perf_counter()

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(batch["text"], truncation=True, max_length=args.max_length)

    train_ds = train_ds.map(tokenize, batched=True, remove_columns=["text"])
    eval_ds = eval_ds.map(tokenize, batched=True, remove_columns=["text"])
    timings["tokenize"] = time.perf_counter() - started

    steps_per_epoch = math.ceil(len(train_ds) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    optimizer = build_optimizer(model, args.lr, args.head_lr, args.weight_decay)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total_steps * args.warmup_ratio), total_steps
    )

    def compute_metrics(prediction) -> dict[str, float]:
        logits, labels = prediction
        return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}

    training_args = TrainingArguments(
        output_dir=str(args.work_dir / "trainer-output"),
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=args.seed,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        num_train_epochs=args.epochs,
        use_cpu=not torch.cuda.is_available(),
        bf16=args.precision == "bf16",
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        optimizers=(optimizer, scheduler),
    )
    started = time.perf_counter()
    train_output = trainer.train()
    timings["train"] = time.perf_counter() - started  # includes the per-epoch evaluations

    started = time.perf_counter()
    final = trainer.evaluate()
    timings["final_evaluate"] = time.perf_counter() - started

    # headstart always writes its run folder; save the Trainer's model too, so both sides end
    # with a model on disk.
    started = time.perf_counter()
    trainer.save_model(str(args.work_dir / "trainer-model"))
    timings["save"] = time.perf_counter() - started

    history = [
        {"epoch": round(entry["epoch"]), "accuracy": entry["eval_accuracy"]}
        for entry in trainer.state.log_history
        if "eval_accuracy" in entry
    ]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    result = {
        "accuracy": float(final["eval_accuracy"]),
        "eval_loss": float(final["eval_loss"]),
        "history": history[:-1] if len(history) > args.epochs else history,
        "train_examples": len(train_ds),
        "eval_examples": len(eval_ds),
        "labels": names,
        "trainable_params": trainable,
        "total_params": total,
        "global_steps": train_output.global_step,
        "precision": args.precision,
        "device": str(trainer.args.device),
        "torch_threads": torch.get_num_threads(),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.output_json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
