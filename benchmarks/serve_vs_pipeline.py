"""Throughput under load: ``headstart serve`` against a naive one-request-at-a-time server
with the transformers ``pipeline``, 16 concurrent clients on loopback, in one run.

Servers (each its own process, all started first and kept up, so passes can be interleaved):

- ``naive pipeline``: ``_naive_server.py``: FastAPI + uvicorn whose async handler calls
  ``pipeline("text-classification")`` directly, so requests are served one at a time. Its
  model is the run's encoder + mean pooling + the run's head (same predictions, same compute),
  fp32 (the pipeline's default).
- ``headstart serve fp32``: ``headstart serve RUN --precision fp32``: the same precision as
  the pipeline, so the difference is the serving (micro-batching, sorted batches, no loop
  blocking), not the arithmetic.
- ``headstart serve``: the defaults (``--precision auto``: bf16 on a CPU with AMX or
  AVX512-bf16; ``--max-batch-size 64 --max-wait-ms 5``; ``--workers 0``: a model call per CPU
  core at once, each on one thread).
- ``--also-onnx``: ``headstart serve --backend onnx`` on an int8 export made here.
- ``--also-naive-bf16``: the naive server with its model in bf16, to compare like with like
  against ``headstart serve``'s bf16.
- ``--also-one-worker``: ``headstart serve --workers 1``: one model call at a time on all the
  threads, instead of the default's concurrent calls on one thread each.

Load: SST-2 dev (872 sentences), one text per request (``--texts-per-request`` to change),
``--clients`` (16) concurrent keep-alive connections, each sending its next request as soon as
the previous answer arrives. The client is a minimal HTTP/1.1 client on asyncio streams in
this process (cheap, so it takes little CPU from the servers; the same for every side). One
warm-up pass of 64 requests per server, then ``--repeats`` timed passes over all the texts, the
sides interleaved; texts/s = texts / wall seconds of a pass, median over passes; latency
percentiles are over all requests of all passes. Labels are checked against the naive server's.

    python benchmarks/serve_vs_pipeline.py --run RUN_DIR [--clients 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    DATA_DIR,
    child_env,
    environment,
    headstart_command,
    markdown_table,
    read_sst2,
)


# -- a minimal keep-alive HTTP/1.1 client ---------------------------------------------------------
class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        assert self.reader is not None
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(payload)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(port: int, requests: list[list[str]], clients: int) -> tuple[float, list[Any]]:
    """Send every request with ``clients`` concurrent connections; (wall s, [(latency, rows)])."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    results: list[Any] = [None] * len(requests)

    async def worker() -> None:
        conn = Connection(port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                status, body = await conn.post("/predict", {"texts": requests[i]})
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {body}")
                results[i] = (time.perf_counter() - started, body["predictions"])
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, results


# -- servers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=child_env())


def wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"server on {port} did not come up:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder (BERT family)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="first N dev sentences")
    parser.add_argument("--also-onnx", action="store_true", help="add serve --backend onnx int8")
    parser.add_argument("--also-naive-bf16", action="store_true", help="add the naive in bf16")
    parser.add_argument(
        "--also-one-worker",
        action="store_true",
        help="add serve --workers 1 (one model call at a time, on all threads)",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "serve.json")
    args = parser.parse_args()

    texts, _ = read_sst2(DATA_DIR / "sst2" / "dev.tsv", args.limit)
    n = args.texts_per_request
    requests = [texts[i : i + n] for i in range(0, len(texts), n)]
    max_length = int(json.loads((args.run / "model" / "headstart.json").read_text())["max_length"])
    workdir = Path(tempfile.mkdtemp(prefix="headstart-bench-serve-"))
    serve = [*headstart_command(), "serve", str(args.run)]
    sides: dict[str, list[str]] = {
        "naive pipeline": [sys.executable, str(BENCH_DIR / "_naive_server.py"), "--run",
                           str(args.run), "--max-length", str(max_length), "--port"],
        "naive pipeline bf16": [sys.executable, str(BENCH_DIR / "_naive_server.py"), "--run",
                                str(args.run), "--max-length", str(max_length), "--dtype",
                                "bf16", "--port"],
        "headstart serve fp32": [*serve, "--precision", "fp32", "--port"],
        "headstart serve": [*serve, "--port"],
    }  # fmt: skip
    if not args.also_naive_bf16:
        del sides["naive pipeline bf16"]
    if args.also_one_worker:
        sides["headstart serve --workers 1"] = [*serve, "--workers", "1", "--port"]
    if args.also_onnx:
        export = workdir / "onnx-int8"
        subprocess.run([*headstart_command(), "export", str(args.run), "--quantize", "int8",
                        "--output", str(export)], check=True, capture_output=True)  # fmt: skip
        sides["headstart serve onnx int8"] = [*headstart_command(), "serve", str(export),
                                              "--backend", "onnx", "--port"]  # fmt: skip
    processes: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    passes: dict[str, list[float]] = {name: [] for name in sides}
    latencies: dict[str, list[float]] = {name: [] for name in sides}
    labels: dict[str, list[str]] = {}
    try:
        for name, command in sides.items():
            port = free_port()
            log = workdir / f"{name.replace(' ', '-')}.log"
            processes[name] = (start([*command, str(port)], log), port)
            wait_healthy(port, processes[name][0], log)  # one at a time: no loading contention
            print(f"  {name}: up on port {port}", file=sys.stderr)
        for _, port in processes.values():  # warm-up
            asyncio.run(load(port, requests[:64], args.clients))
        for r in range(args.repeats):
            for name, (_, port) in processes.items():
                wall, results = asyncio.run(load(port, requests, args.clients))
                passes[name].append(wall)
                latencies[name] += [lat for lat, _ in results]
                labels[name] = [str(row["label"]) for _, rows in results for row in rows]
                print(f"  pass {r + 1} {name}: {len(texts) / wall:.0f} texts/s", file=sys.stderr)
    finally:
        for process, _ in processes.values():
            process.send_signal(signal.SIGTERM)
        for process, _ in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    naive = "naive pipeline"
    results: dict[str, dict[str, Any]] = {}
    for name in sides:
        lat = sorted(latencies[name])
        results[name] = {
            "texts_per_s": round(len(texts) / statistics.median(passes[name]), 1),
            "pass_s": [round(p, 3) for p in passes[name]],
            "latency_p50_ms": round(1000 * lat[len(lat) // 2], 1),
            "latency_p95_ms": round(1000 * lat[int(len(lat) * 0.95)], 1),
            # pass r of this side against pass r of the naive server (run side by side)
            "ratio_per_pass": [
                round(b / a, 2) for a, b in zip(passes[name], passes[naive], strict=True)
            ],
            "label_agreement_with_naive": round(
                sum(a == b for a, b in zip(labels[name], labels[naive], strict=True))
                / len(labels[naive]),
                4,
            ),
        }
    base = results[naive]["texts_per_s"]
    header = ["server", "texts/s", "vs naive", "vs naive per pass (median)", "p50 ms", "p95 ms",
              "labels = naive"]  # fmt: skip
    rows = [
        [name, f"{r['texts_per_s']:.0f}", f"{r['texts_per_s'] / base:.2f}×",
         f"{statistics.median(r['ratio_per_pass']):.2f}× "
         f"({', '.join(f'{x:.2f}' for x in r['ratio_per_pass'])})",
         f"{r['latency_p50_ms']:.0f}", f"{r['latency_p95_ms']:.0f}",
         f"{r['label_agreement_with_naive']:.2%}"]
        for name, r in results.items()
    ]  # fmt: skip
    print(markdown_table(header, rows))
    print(
        f"\nSST-2 dev, {len(texts)} texts, {n} per request, {args.clients} concurrent clients on "
        f"loopback; median of {args.repeats} interleaved passes after a warm-up"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "settings": {"run": str(args.run), "clients": args.clients, "repeats": args.repeats,
                     "texts": len(texts), "texts_per_request": n, "max_length": max_length,
                     "cpu_count": os.cpu_count()},
        "environment": environment(),
        "results": results,
    }  # fmt: skip
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
