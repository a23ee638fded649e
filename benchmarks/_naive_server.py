"""The naive baseline for ``serve_vs_pipeline.py``: a FastAPI app on uvicorn (the same HTTP
stack as ``headstart serve``) whose ``POST /predict`` calls a transformers ``pipeline``
directly in its ``async`` handler. The call blocks the event loop, so the server handles one
request at a time: what a first "put the model behind an endpoint" usually is.

The pipeline's model computes exactly what the run folder does: the run's BERT encoder, mean
pooling under the attention mask, and the run's linear head (``head.safetensors``), wrapped as
a ``BertPreTrainedModel`` so that ``pipeline("text-classification")`` accepts it. Its labels
therefore equal headstart's (the benchmark checks), and the compute per text is the same.
BERT-family run folders only (the SST-2 benchmark run is minilm, a BERT).

    python benchmarks/_naive_server.py --run RUN --port 8001 [--max-length 256] [--dtype bf16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn


def build_pipeline(run: Path, max_length: int, dtype: str = "fp32"):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertModel, BertPreTrainedModel, pipeline
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPooledBert(BertPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.classifier = nn.Linear(config.hidden_size, config.num_labels)
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return SequenceClassifierOutput(logits=self.classifier(pooled))

    folder = run / "model" if (run / "model").is_dir() else run
    model = MeanPooledBert.from_pretrained(folder).eval()
    model.classifier.load_state_dict(load_file(str(folder / "head.safetensors")))
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    return lambda texts: pipe(texts, truncation=True, max_length=max_length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()

    import uvicorn
    from fastapi import FastAPI
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    predict = build_pipeline(args.run, args.max_length, args.dtype)
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def handle(body: dict) -> dict:
        with torch.inference_mode():
            rows = predict(body["texts"])  # blocks the loop: one request at a time
        return {"predictions": [{"label": r["label"], "score": r["score"]} for r in rows]}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
