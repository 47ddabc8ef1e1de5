"""Serving a generative package under load: batched answers vs one at a time, and streaming.

Starts `trainforge serve` on a text_generation package twice (batching on: --max-batch-size 32;
off: --max-batch-size 1) and each time runs N concurrent clients sending chat completions
(`POST /v1/chat/completions`, greedy, max_tokens 32) back to back until the total is reached.
Reports requests/s, generated tokens/s, latency percentiles and errors of both, the ratio
(goal: >= 2x at 32 clients, 0 errors), how many batched answers equal the answer given alone,
and whether the streamed answers (the official `openai` client, `stream=True`) are the
non-streamed ones. Writes benchmarks/results/serve_generation.json.

    python benchmarks/serve_generation.py runs/support_chat/model
    python benchmarks/serve_generation.py                  # trains a 2-step SmolLM2 LoRA first
    python benchmarks/serve_generation.py PACKAGE --requests 32 --clients 8   # a quick check

Run it on a quiet machine: the clients share the CPU with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from serve_load import _free_port, _percentile_ms, _wait_ready  # noqa: E402

CHATS = REPO / "examples" / "data" / "support_chat"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, nargs="?", help="generation package (default: train)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=128, help="requests per configuration")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer at most")
    parser.add_argument("--max-batch-size", type=int, default=32, help="batching on: this size")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "serve_generation.json"
    )
    args = parser.parse_args()
    questions = _questions()
    with tempfile.TemporaryDirectory(prefix="serve-generation-") as tmp:
        package = args.package or _train_package(Path(tmp))
        results: dict[str, Any] = {}
        for name, batch_size in (("batching_on", args.max_batch_size), ("batching_off", 1)):
            print(f"{name}: --max-batch-size {batch_size}", flush=True)
            results[name] = _measure(package, batch_size, questions, args)
            print(json.dumps({k: v for k, v in results[name].items() if k != "answers"}))
    on, off = results["batching_on"], results["batching_off"]
    pairs = list(zip(on.pop("answers"), off.pop("answers"), strict=True))
    same = sum(a == b for a, b in pairs)
    report = {
        "settings": {
            "package": str(args.package.name) if args.package else "SmolLM2-135M LoRA, 2 steps",
            "clients": args.clients,
            "requests": args.requests,
            "max_tokens": args.max_tokens,
            "max_batch_size": args.max_batch_size,
            "max_wait_ms": args.max_wait_ms,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "cpu_flags": _cpu_flags(),
        },
        "results": results,
        "throughput_ratio": round(on["requests_per_s"] / off["requests_per_s"], 2),
        "batched_equals_alone": f"{same}/{len(pairs)}",
        "streamed_equals_whole": on["streamed_equals_whole"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"throughput ratio (on / off): {report['throughput_ratio']}x; batched answers equal to "
        f"those alone: {report['batched_equals_alone']}; streamed = whole: "
        f"{report['streamed_equals_whole']} -> {args.out}"
    )


def _questions() -> list[str]:
    """The user's first question of every shipped support chat."""
    questions = []
    for name in ("train.jsonl", "questions.txt"):
        path = CHATS / name
        if name.endswith(".jsonl"):
            for line in path.read_text(encoding="utf-8").splitlines():
                turns = json.loads(line)["messages"]
                questions.append(next(t["content"] for t in turns if t["role"] == "user"))
        elif path.is_file():
            questions += [q for q in path.read_text(encoding="utf-8").splitlines() if q.strip()]
    return list(dict.fromkeys(questions))


def _train_package(folder: Path) -> Path:
    print("training a 2-step SmolLM2 LoRA package on examples/data/support_chat ...", flush=True)
    import trainforge

    config = {
        "task": "text_generation",
        "data": {"train": str(CHATS / "train.jsonl")},
        "model": {"backbone": "smollm2", "finetune": "lora"},
        "train": {"epochs": 1, "max_steps": 2, "batch_size": 4, "max_length": 256},
    }
    return Path(trainforge.train(config, output=folder / "run", progress=False).model_dir)


def _measure(
    package: Path, batch_size: int, questions: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "trainforge.cli",
        "serve",
        str(package),
        "--port",
        str(port),
        "--max-batch-size",
        str(batch_size),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--request-timeout",
        "600",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=REPO)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server)
        measured = asyncio.run(_load(url, questions, args))
        measured["streamed_equals_whole"] = _streamed_equals_whole(url, questions[:4], args)
        return measured
    finally:
        server.terminate()
        server.wait(timeout=30)


def _body(question: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": "trainforge",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
    }


async def _load(url: str, questions: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=900)
    answers: dict[int, str] = {}
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:
        async with client.post("/v1/chat/completions", json=_body("Hello", args)) as r:
            await r.read()  # warm-up
        latencies: list[float] = []
        tokens = 0
        errors: dict[str, int] = {}
        counter = iter(range(args.requests))

        async def one_client() -> None:
            nonlocal tokens
            for i in counter:  # shared: the clients together send args.requests
                question = questions[i % len(questions)]
                start = time.perf_counter()
                try:
                    async with client.post(
                        "/v1/chat/completions", json=_body(question, args)
                    ) as response:
                        payload = await response.json()
                        ok, kind = response.status == 200, str(response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, kind = False, type(exc).__name__
                if ok:
                    latencies.append(time.perf_counter() - start)
                    tokens += payload["usage"]["completion_tokens"]
                    if i < len(questions):
                        answers[i] = payload["choices"][0]["message"]["content"]
                else:
                    errors[kind] = errors.get(kind, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(args.clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests_per_s": round(args.requests / elapsed, 2),
        "completion_tokens_per_s": round(tokens / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        "p50_s": _s(_percentile_ms(latencies, 50)),
        "p95_s": _s(_percentile_ms(latencies, 95)),
        "mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "answers": [answers.get(i) for i in range(min(len(questions), args.requests))],
    }


def _streamed_equals_whole(url: str, questions: list[str], args: argparse.Namespace) -> str:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
    same = 0
    for question in questions:
        body = _body(question, args)
        whole = client.chat.completions.create(**body).choices[0].message.content
        chunks = client.chat.completions.create(**body, stream=True)
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        same += streamed == whole
    return f"{same}/{len(questions)}"


def _s(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 2)


def _cpu_flags() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    flags = [f for f in ("avx2", "avx512_bf16", "amx_tile") if f" {f}" in info]
    return " ".join(flags) or "none of avx2/avx512_bf16/amx"


if __name__ == "__main__":
    main()
