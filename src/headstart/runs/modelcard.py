"""The model card: a ``README.md`` in the Hugging Face convention (YAML metadata, then prose)
for every run folder, from what ``fit`` knows: the base model, the data, the strategy, the
trainable parameters, the metrics, and the intended use and limitations.

YAML values are written as JSON scalars, which YAML reads as they are: no YAML library needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.tasks.base import TASKS, task_type
from headstart.tasks.pairs import pair_encoding

# Our short names of source models → hub ids, for ``base_model`` (which must be a hub id).
HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
# metric name in metrics.json → (model-index type, display name, args)
METRIC_TYPES: dict[str, tuple[str, str, dict[str, str]]] = {
    "accuracy": ("accuracy", "Accuracy", {}),
    "macro_f1": ("f1", "Macro F1", {"average": "macro"}),
    "micro_f1": ("f1", "Micro F1", {"average": "micro"}),
    "subset_accuracy": ("accuracy", "Subset accuracy", {}),
    "f1": ("f1", "F1", {}),
    "precision": ("precision", "Precision", {}),
    "recall": ("recall", "Recall", {}),
    "pearson": ("pearsonr", "Pearson r", {}),
    "spearman": ("spearmanr", "Spearman rho", {}),
    "mse": ("mse", "MSE", {}),
    "mae": ("mae", "MAE", {}),
}


def write_model_card(
    folder: Path,
    config: Any,
    metrics: dict[str, Any],
    meta: dict[str, Any],
    run_dir: str | Path | None = None,
) -> None:
    """``folder/README.md``, and the same card in ``folder/model/`` so that the
    ``save_pretrained`` folder carries it when pushed to the hub on its own. ``run_dir``: where
    the run will live (``folder`` may be a staging folder), for the title and usage lines."""
    settings = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    card = model_card(settings, metrics, meta, str(run_dir or folder))
    (folder / "README.md").write_text(card)
    if (folder / "model").is_dir():
        (folder / "model" / "README.md").write_text(card)


def model_card(
    config: dict[str, Any], metrics: dict[str, Any], meta: dict[str, Any], run_dir: str = "model"
) -> str:
    """The card's text; ``run_dir`` names the run in the title and the usage examples."""
    name = Path(run_dir).name or run_dir
    return _front_matter(config, metrics, meta, name) + "\n" + _body(config, metrics, meta, run_dir)


# -- YAML metadata ----------------------------------------------------------------------------
def _front_matter(
    config: dict[str, Any], metrics: dict[str, Any], meta: dict[str, Any], name: str
) -> str:
    task = _task_name(metrics, meta)
    pipeline = task_type(task).pipeline_tag
    base = _hub_id(str(config.get("model", "")))
    lines = ["---", "library_name: headstart"]
    if base:
        lines.append(f"base_model: {_q(base)}")
    lines.append(f"pipeline_tag: {pipeline}")
    lines.append("tags:")
    for tag in ("headstart", pipeline, task, f"strategy-{metrics.get('strategy', 'full')}"):
        lines.append(f"- {_q(tag)}")
    results = []
    for split in ("test", "eval"):
        scores = _scalar_metrics(metrics.get(split, {}))
        if not scores:
            continue
        data = config.get("test_data" if split == "test" else "eval_data") or config.get("data")
        results.append((split, _data_name(str(data)), scores))
    if results:
        lines.append("model-index:")
        lines.append(f"- name: {_q(name)}")
        lines.append("  results:")
        for split, data_name, scores in results:
            lines.append(f"  - task: {{type: {pipeline}}}")
            quoted = _q(data_name)
            lines.append(f"    dataset: {{name: {quoted}, type: {quoted}, split: {split}}}")
            lines.append("    metrics:")
            for key, value in scores.items():
                kind, label, args = METRIC_TYPES.get(key, (key, key, {}))
                lines.append(f"    - type: {_q(kind)}")
                lines.append(f"      name: {_q(label)}")
                lines.append(f"      value: {_q(value)}")
                if args:
                    lines.append(f"      args: {json.dumps(args)}")
    lines.append("---")
    return "\n".join(lines) + "\n"


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _hub_id(model: str) -> str | None:
    model = model.removeprefix("scratch:")
    if model in HUB_IDS:
        return HUB_IDS[model]
    if Path(model).exists() or model.startswith((".", "/", "~")):
        return None  # a local folder is no hub id
    return model if model.count("/") <= 1 and model else None


def _data_name(data: str) -> str:
    return data if data == "bbc-news" else Path(data).stem or data


def _scalar_metrics(split: dict[str, Any]) -> dict[str, float]:
    return {
        k: round(float(v), 4)
        for k, v in split.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "examples"
    }


# -- prose --------------------------------------------------------------------------------------
def _task_name(metrics: dict[str, Any], meta: dict[str, Any]) -> str:
    return str(metrics.get("task", meta.get("task", "classification")))


def _task_words(task: str) -> str:
    """What the model does, in words ("single-label text classification (...)")."""
    return TASKS[task].described if task in TASKS else task


def _body(
    config: dict[str, Any], metrics: dict[str, Any], meta: dict[str, Any], run_dir: str
) -> str:
    name = Path(run_dir).name or run_dir
    out = [f"# {name}", ""]
    out += _model_section(config, metrics, meta)
    out += _data_section(config, metrics)
    out += _procedure_section(config, metrics)
    out += _evaluation_section(metrics)
    out += _usage_section(run_dir)
    out += _limits_section(config, metrics, meta)
    return "\n".join(out) + "\n"


def _source(model: str) -> str:
    """The base model as the card names it: ours, its hub link, and whether it is pretrained."""
    base = _hub_id(model)
    source = f"`{model}`" + (f" ([{base}](https://huggingface.co/{base}))" if base else "")
    if model.startswith("scratch:"):
        source += ": its architecture and tokenizer with **random weights** (no pretraining)"
    return source


def _model_section(
    config: dict[str, Any], metrics: dict[str, Any], meta: dict[str, Any]
) -> list[str]:
    task = _task_name(metrics, meta)
    source = _source(str(config.get("model", "?")))
    labels = [str(x) for x in metrics.get("labels", meta.get("labels", []))]
    out = [
        f"A model for {_task_words(task)}, fine-tuned with headstart from {source}.",
        "",
        "## Model",
        "",
        f"- **Base model**: {source}",
        f"- **Task**: {task}" + (f"; {len(labels)} labels: {_list(labels)}" if labels else ""),
        f"- **Head**: {meta.get('pooling', config.get('pooling', 'mean'))} pooling, dropout "
        f"{config.get('dropout', 0.1)}, one linear layer (new, randomly initialised)",
        f"- **Max length**: {config.get('max_length')} tokens (longer texts are truncated)",
    ]
    if meta.get("pairs"):
        out.append("- **Input**: sentence pairs (`text`, `text_pair`), encoded as one input")
    if metrics.get("case_markers"):
        out.append(
            "- **Case**: a marker token before capitalised and all-capitals words, as the "
            "tokenizer lower-cases (`--case-markers`)"
        )
    out += pair_encoding(str(metrics.get("pair_encoding", "cross"))).card_lines()
    if metrics.get("pair_swap"):
        out.append("- **Pair order**: trained on every pair both ways round (`--pair-swap`)")
    return out


def _data_section(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    examples = metrics.get("examples", {})
    skipped = metrics.get("skipped_rows", {})
    out = ["", "## Training data", ""]
    for key, what in (("data", "train"), ("eval_data", "eval"), ("test_data", "test")):
        value = config.get(key)
        if key == "eval_data" and not value and "eval" in examples:
            value = f"a stratified {config.get('eval_fraction', 0.1):.0%} of the training data"
        if value:
            count = examples.get(what)
            note = f" ({count:,} examples" if isinstance(count, int) else ""
            if note and skipped.get(what):
                note += f", {skipped[what]:,} rows with empty text or label skipped"
            out.append(f"- **{what}**: `{value}`{note + ')' if note else ''}")
    return out


def _procedure_section(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    trainable, total = metrics.get("trainable_params"), metrics.get("total_params")
    share = f" ({trainable / total:.2%})" if trainable and total else ""
    out = [
        "",
        "## Training procedure",
        "",
        f"- **Strategy**: {metrics.get('strategy')}: {metrics.get('strategy_summary', '')}".rstrip(
            ": "
        ),
    ]
    if metrics.get("strategy") == "partial":
        out.append(
            f"- **Frozen layers**: {metrics.get('frozen_layers')} of {metrics.get('num_layers')}"
        )
    if trainable is not None:
        out.append(f"- **Trainable parameters**: {trainable:,} of {total:,}{share}")
    out += [
        f"- **Epochs**: {metrics.get('epochs')} (best epoch on the eval split: "
        f"{metrics.get('best_epoch')}); batch size {config.get('batch_size')}; "
        f"learning rate {metrics.get('lr')}, head {metrics.get('head_lr')}; "
        f"weight decay {config.get('weight_decay')}; warmup {config.get('warmup_ratio')}",
        f"- **Precision**: {metrics.get('precision')} on {metrics.get('device')}; seed "
        f"{config.get('seed')}; {metrics.get('train_seconds')} s of training",
        "- **Reproduce**: `headstart fit` with the settings in this run's `config.json`",
    ]
    return out


def _evaluation_section(metrics: dict[str, Any]) -> list[str]:
    out = ["", "## Evaluation", ""]
    table = _metrics_table(metrics)
    out += table or ["No evaluation metrics were recorded.", ""]
    per_class = metrics.get("test", metrics.get("eval", {})).get("per_class")
    if isinstance(per_class, dict) and per_class:
        split = "test" if "test" in metrics else "eval"
        out += [f"Per class ({split}):", "", "| label | precision | recall | f1 | support |"]
        out.append("|---|---|---|---|---|")
        for label, row in per_class.items():
            if isinstance(row, dict):
                cells = [row.get(k) for k in ("precision", "recall", "f1", "support")]
                out.append(f"| {label} | " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return out


def _usage_section(run_dir: str) -> list[str]:
    return [
        "## How to use",
        "",
        "```python",
        "import headstart",
        "",
        f"predictor = headstart.load({json.dumps(run_dir)})",
        'predictor.predict(["Your text here."])',
        "```",
        "",
        "```bash",
        f'echo "Your text here." | headstart predict {run_dir}',
        f"headstart serve {run_dir}                   # HTTP API and a try-it page",
        f"headstart export {run_dir} --format onnx    # ONNX graph for any runtime",
        "```",
        "",
        '`model/` is a `save_pretrained` folder: `AutoModel.from_pretrained("model")` loads the '
        "fine-tuned encoder; the head is `model/head.safetensors`, described by "
        "`model/headstart.json`.",
        "",
    ]


def _limits_section(
    config: dict[str, Any], metrics: dict[str, Any], meta: dict[str, Any]
) -> list[str]:
    task = _task_name(metrics, meta)
    use_note = TASKS[task].use_note if task in TASKS else ""
    model = str(config.get("model", "?"))
    out = [
        "## Intended use and limitations",
        "",
        f"- Intended for {_task_words(task)} of texts like the training data "
        f"(`{config.get('data')}`): the same language, domain and label definitions. It knows "
        f"only the labels it was trained on{use_note}.",
        f"- Texts longer than {config.get('max_length')} tokens are cut; what comes after the "
        "cut is not read.",
        "- The metrics above come from one training run with one seed on the splits named; "
        "the eval split also chose the best epoch, so its score is slightly optimistic (a "
        "test split, where given, is not). Expect different numbers on other data.",
        "- The model inherits the biases of its base model's pretraining data and of the "
        "fine-tuning data. Scores are model confidences, not calibrated probabilities.",
        "- Not for decisions about people (hiring, credit, moderation of individuals, medical "
        "or legal use) without evaluation on the data of that use and human review.",
    ]
    if _hub_id(model) == HUB_IDS["minilm"]:
        out.append("- The base model (all-MiniLM-L6-v2) was trained on English text.")
    return out


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    splits = [s for s in ("eval", "test") if _scalar_metrics(metrics.get(s, {}))]
    if not splits:
        return []
    keys: list[str] = []
    for split in splits:
        keys += [k for k in _scalar_metrics(metrics[split]) if k not in keys]
    rows = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for key in keys:
        cells = [_cell(_scalar_metrics(metrics[s]).get(key)) for s in splits]
        rows.append(f"| {METRIC_TYPES.get(key, (key, key, {}))[1]} | " + " | ".join(cells) + " |")
    return [*rows, ""]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _list(labels: list[str]) -> str:
    shown = ", ".join(f"`{x}`" for x in labels[:20])
    return shown + (f" … ({len(labels)} in all)" if len(labels) > 20 else "")
