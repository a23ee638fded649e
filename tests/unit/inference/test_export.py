"""``headstart export --format onnx`` and the onnx backend on tiny random run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
import onnx
from typer.testing import CliRunner

import headstart
from headstart.cli.main import app
from headstart.inference.export import export_onnx
from headstart.inference.onnx_predictor import OnnxPredictor
from tests.serve_helpers import make_run

TEXTS = [
    "ok",
    "a gripping and beautifully acted film about a family",
    "dull " * 200,  # longer than max_length: truncated on both sides
    "Shares fell sharply after the profit warning.",
]
PAIRS = ["fine", "the film is about a family", "short", "Shares dropped."]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    runs = {
        "classification": make_run(root / "cls"),
        "multilabel": make_run(root / "ml", "multilabel"),
        "regression-pairs": make_run(root / "reg", "regression", pairs=True),
        "bi-pairs": make_run(root / "bi", "classification", pairs=True, pair_encoding="bi"),
        "tokens": make_run(root / "ner", "tokens"),
        "tokens-marked": make_run(root / "nerm", "tokens", case_markers=True),
    }
    out = {}
    for name, run in runs.items():
        export_onnx(run, run / "onnx")
        out[name] = run
    export_onnx(runs["classification"], root / "cls-int8", quantize="int8")
    out["int8"] = root / "cls-int8"
    return out


def test_one_graph_with_dynamic_axes_and_the_tokenizer_beside_it(
    exported: dict[str, Path],
) -> None:
    folder = exported["classification"] / "onnx"
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "headstart.json", "parity.json", "tokenizer.json"} <= names
    graph = onnx.load(str(folder / "model.onnx")).graph
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in graph.input}  # fmt: skip
    assert inputs == {
        "input_ids": ["batch", "sequence"],
        "attention_mask": ["batch", "sequence"],
        "token_type_ids": ["batch", "sequence"],
    }
    assert [o.name for o in graph.output] == ["logits"]
    assert [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [
        "batch",
        3,
    ]
    parity = json.loads((folder / "parity.json").read_text())
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["label_agreement"] == 1.0
    meta = json.loads((folder / "headstart.json").read_text())
    assert meta["labels"] == ["neg", "neu", "pos"] and meta["onnx"]["quantize"] is None


@pytest.mark.parametrize("batch_size", [1, 3, 64])
@pytest.mark.parametrize(
    "name",
    ["classification", "multilabel", "regression-pairs", "bi-pairs", "tokens", "tokens-marked"],
)
def test_onnx_rows_match_torch(exported: dict[str, Path], name: str, batch_size: int) -> None:
    run = exported[name]
    pairs = PAIRS if name.endswith("pairs") else None
    torch_predictor = headstart.load(run, precision="fp32", batch_size=batch_size)
    # finds RUN/onnx; with batch 3, two sessions calls at once (serve's workers)
    workers = 2 if batch_size == 3 else 1
    onnx_predictor = OnnxPredictor.from_path(run, batch_size=batch_size, workers=workers)
    diff = torch_predictor.logits(TEXTS, pairs) - onnx_predictor.logits(TEXTS, pairs)
    assert diff.abs().max() < 1e-4
    if name.startswith("tokens"):  # word tags of pre-split input too
        words = [["Angela", "Merkel", "visited", "Paris"], ["ok"]]
        tags = onnx_predictor.tag(words)
        assert [r["tags"] for r in tags] == [r["tags"] for r in torch_predictor.tag(words)]
    expected, got = torch_predictor.predict(TEXTS, pairs), onnx_predictor.predict(TEXTS, pairs)
    assert [set(r) for r in got] == [set(r) for r in expected]
    key = {"classification": "label", "multilabel": "labels", "regression-pairs": "value",
           "bi-pairs": "label", "tokens": "entities"}[name.removesuffix("-marked")]  # fmt: skip
    if key == "value":
        assert all(abs(g[key] - e[key]) < 1e-4 for g, e in zip(got, expected, strict=True))
    elif key == "entities":  # the same spans; scores (rounded to 6 places) within 1e-4
        spans = [[{k: v for k, v in e.items() if k != "score"} for e in r[key]] for r in got]
        assert spans == [[{k: v for k, v in e.items() if k != "score"} for e in r[key]]
                         for r in expected]  # fmt: skip
        scores = [e["score"] for r in got for e in r[key]]
        want = [e["score"] for r in expected for e in r[key]]
        assert max(abs(a - b) for a, b in zip(scores, want, strict=True)) < 1e-4
    else:
        assert [r[key] for r in got] == [r[key] for r in expected]


def test_int8_is_smaller_and_reports_parity(exported: dict[str, Path]) -> None:
    fp32 = (exported["classification"] / "onnx" / "model.onnx").stat().st_size
    int8 = (exported["int8"] / "model.onnx").stat().st_size
    assert int8 < fp32
    parity = json.loads((exported["int8"] / "parity.json").read_text())
    assert parity["examples"] > 10 and 0 <= parity["label_agreement"] <= 1
    predictor = OnnxPredictor.from_path(exported["int8"])
    assert predictor.precision == "int8" and len(predictor.predict(TEXTS)) == len(TEXTS)


def test_cli_export_and_predict_backend_onnx(exported: dict[str, Path], tmp_path: Path) -> None:
    run = exported["classification"]
    runner = CliRunner()
    out = tmp_path / "exp"
    result = runner.invoke(app, ["export", str(run), "--format", "onnx", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "max |logit diff|" in result.output and (out / "model.onnx").is_file()
    stdin = "a gripping film\nok\n"
    onnx_rows = runner.invoke(app, ["predict", str(out), "--backend", "onnx"], input=stdin)
    torch_rows = runner.invoke(app, ["predict", str(run), "--precision", "fp32"], input=stdin)
    assert onnx_rows.exit_code == 0, onnx_rows.output
    labels = [json.loads(line)["label"] for line in onnx_rows.stdout.splitlines()]
    assert labels == [json.loads(line)["label"] for line in torch_rows.stdout.splitlines()]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "tflite"], "--format must be onnx"),
        (["--quantize", "int4"], "--quantize must be int8"),
        (["--sample-size", "-1"], "--sample-size must be 0 (all) or more"),
    ],
)
def test_cli_export_bad_options(
    exported: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    run = exported["classification"]
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "x"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_cli_refuses_missing_run_and_existing_output(exported: dict[str, Path]) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["export", "/nonexistent/run"])
    assert missing.exit_code == 1 and "run folder not found" in missing.output
    run = exported["classification"]
    taken = runner.invoke(app, ["export", str(run), "--output", str(run / "onnx")])
    assert taken.exit_code == 1 and "--overwrite" in taken.output
    no_export = runner.invoke(
        app, ["predict", str(run / "model"), "--backend", "onnx"], input="x\n"
    )
    assert no_export.exit_code == 1 and "headstart export" in no_export.output


def test_serve_backend_onnx(exported: dict[str, Path]) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from headstart.serving import load_predictor, run_info
    from headstart.serving.app import ServeSettings, create_app

    run = exported["classification"]
    predictor = load_predictor(run, "onnx")
    app_ = create_app(predictor, ServeSettings(), run_info(run, predictor, "onnx"))
    with TestClient(app_) as client:
        rows = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
        info = client.get("/info").json()
    expected = headstart.load(run, precision="fp32").predict(TEXTS)
    assert [r["label"] for r in rows] == [r["label"] for r in expected]
    assert info["backend"] == "onnx" and info["metrics"]["eval"]["accuracy"] == 0.5


def test_token_model_graph_gives_per_token_logits(exported: dict[str, Path]) -> None:
    folder = exported["tokens"] / "onnx"
    output = onnx.load(str(folder / "model.onnx")).graph.output[0]
    dims = [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence", 5]
    parity = json.loads((folder / "parity.json").read_text())
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["label_agreement"] == 1.0
