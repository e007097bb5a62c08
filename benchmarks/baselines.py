"""The workload and the runs benchmarks/throughput.py scores: the engine and two baselines,
against the same simulator with the same requests (`make_items`, `request_bodies`).

- `run_engine`: the service's HTTP API — POST /api/batches, poll, download.
- `run_asyncio_baseline`: the usual script — one asyncio loop, one httpx2
  AsyncClient, a semaphore and a requests/min token bucket, retrying 429/5xx
  and unparsable answers with a sleep.
- `run_ray_data_baseline`: Ray Data's LLM HTTP request processor
  (`ray.data.llm.HttpRequestProcessorConfig`), Ray's own answer for batch LLM
  calls over HTTP; needs `ray[data]` (pandas) and a running Ray.

Each returns {"elapsed_s", "records": [{index, status, latency_ms}], ...}:
the shape throughput.py scores every runner with.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx
import httpx2
import polars as pl

from engine.models import LabelParams
from engine.prompt.exchange import build_messages, request_body
from engine.prompt.operations import prepare
from engine.provider.client import retry_after_seconds
from engine.provider.ratelimit import TokenBucket

CATEGORIES = ["positive", "negative", "mixed"]
ENGINE_IN_FLIGHT = 2 * 256  # AGENTFLOW_CALLERS x AGENTFLOW_CALLER_CONCURRENCY (the defaults)
MAX_ATTEMPTS = 8  # a script retries a few times, then records the item as failed
PHRASES = ["delivery was slow", "works as advertised", "support never answered", "good value",
           "broke after a week", "would buy again", "the app keeps crashing"]


def make_items(n: int) -> list[dict]:
    return [{"content": f"review {i}: {PHRASES[i % len(PHRASES)]}"} for i in range(n)]


def request_bodies(items: list[dict]) -> list[dict]:
    """What the engine sends per item: the baselines send exactly the same."""
    plan = prepare("label", LabelParams(categories=CATEGORIES))
    return [request_body(plan, "gpt-4.1-mini", build_messages(plan, item)) for item in items]


def probe_tokens(base_url: str, bodies: list[dict]) -> float:
    """Mean prompt+completion tokens of a request, asked of the simulator itself."""
    with httpx.Client(timeout=10) as client:
        answers = [client.post(f"{base_url}/chat/completions", json=body).json() for body in bodies]
    # An injected 500 carries no usage: average over the answers that do.
    return statistics.mean(a["usage"]["total_tokens"] for a in answers if "usage" in a)


def submit_and_wait(client: httpx.Client, url: str, items: list[dict]) -> tuple[str, dict, float]:
    """(batch_id, final status, seconds from submit to a terminal status)."""
    started = time.perf_counter()
    body = {"operation": "label", "categories": CATEGORIES, "items": items}
    batch_id = client.post(f"{url}/api/batches", json=body).raise_for_status().json()["batch_id"]
    while True:
        status = client.get(f"{url}/api/batches/{batch_id}").raise_for_status().json()
        elapsed = time.perf_counter() - started
        if status["status"] in ("completed", "failed", "cancelled"):
            return batch_id, status, elapsed
        # About 50 polls a run: 2% resolution, without the polling itself costing the service CPU.
        time.sleep(min(1.0, max(0.05, elapsed / 50)))


def download(client: httpx.Client, url: str, batch_id: str) -> list[dict]:
    records, offset = [], 0
    while offset is not None:
        page = client.get(f"{url}/api/batches/{batch_id}/output", params={"offset": offset}).raise_for_status().json()
        records += page["results"]
        offset = page["next_offset"]
    return records


def store_latencies(store: str, batch_id: str) -> dict[int, float]:
    """latency_ms per index, read from the store: the output records do not carry it."""
    frame = pl.read_parquet(f"{store}/batches/{batch_id}/results/*.parquet", columns=["index", "latency_ms"])
    return dict(frame.unique("index", keep="first").iter_rows())


def run_engine(url: str, store: str, items: list[dict]) -> dict:
    with httpx.Client(timeout=60) as client:
        batch_id, status, elapsed = submit_and_wait(client, url, items)
        records = download(client, url, batch_id)
    latency = store_latencies(store, batch_id)
    for record in records:
        record["latency_ms"] = latency.get(record["index"])
    return {"elapsed_s": elapsed, "records": records, "batch_status": status["status"], "settings": {
        "in_flight_cap": ENGINE_IN_FLIGHT, "latency_note": "caller's, from the store (not in output records)"}}


def parsed_answer(response: httpx2.Response) -> dict | None:
    """The answer's JSON object, or None when the reply is not one (truncated JSON, error)."""
    try:
        value = json.loads(response.json()["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return value if isinstance(value, dict) else None


class _Script:
    """State of one baseline run: the bucket, the client, the counters."""

    def __init__(self, url: str, rpm: float | None, concurrency: int):
        # The usual bucket: one second of burst, starting full.
        self.bucket = TokenBucket(rpm / 60, rpm / 60, time.monotonic, level=rpm / 60) if rpm else None
        self.slots = asyncio.Semaphore(concurrency)
        self.url = url
        self.counts = {"attempts": 0, "http_429": 0, "http_5xx": 0, "bad_answers": 0}

    async def _take(self) -> None:
        while self.bucket and not self.bucket.try_take(1):
            await asyncio.sleep(self.bucket.seconds_until(1))

    async def item(self, client: httpx2.AsyncClient, index: int, body: dict) -> dict:
        status, error = "failed", "gave up"
        async with self.slots:
            started = time.perf_counter()  # from dispatch, as the engine's caller measures
            for attempt in range(1, MAX_ATTEMPTS + 1):
                await self._take()
                self.counts["attempts"] += 1
                try:
                    response = await client.post(self.url, json=body)
                except httpx2.TransportError as exc:
                    error = type(exc).__name__
                    await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt))
                    continue
                wait = self._judge(response)
                if wait is None:
                    status, error = "completed", None
                    break
                error = f"HTTP {response.status_code}"
                await asyncio.sleep(wait if wait > 0 else min(8.0, 0.5 * 2 ** attempt))
        return {"index": index, "status": status, "error": error,
                "latency_ms": (time.perf_counter() - started) * 1000}

    def _judge(self, response: httpx2.Response) -> float | None:
        """None if the item is done; else seconds to sleep before the retry (0: back off)."""
        if response.status_code == 429:
            self.counts["http_429"] += 1
            return retry_after_seconds(response.headers) or 1.0
        if response.status_code >= 500:
            self.counts["http_5xx"] += 1
            return 0.0
        if parsed_answer(response) is None:
            self.counts["bad_answers"] += 1
            return 0.0
        return None


async def _asyncio_run(base_url: str, bodies: list[dict], rpm: float | None, concurrency: int) -> dict:
    script = _Script(base_url.rstrip("/") + "/chat/completions", rpm, concurrency)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": "Bearer bench"}
    async with httpx2.AsyncClient(limits=limits, headers=headers, timeout=60) as client:
        started = time.perf_counter()
        records = await asyncio.gather(*(script.item(client, i, b) for i, b in enumerate(bodies)))
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "records": list(records), "client_counts": script.counts,
            "settings": {"rpm": rpm, "concurrency": concurrency, "max_attempts": MAX_ATTEMPTS}}


def run_asyncio_baseline(base_url: str, bodies: list[dict], rpm: float | None, concurrency: int = 256) -> dict:
    """The plain script, in this process (its own event loop)."""
    return asyncio.run(_asyncio_run(base_url, bodies, rpm, concurrency))


def ray_data_available() -> str | None:
    """None if ray.data.llm imports; else why not."""
    try:
        from ray.data.llm import HttpRequestProcessorConfig, build_processor  # noqa: F401
    except ImportError as exc:
        return f"ray.data.llm does not import: {exc} (pip install 'ray[data]==2.60.0')"
    return None


def _postprocess(row: dict) -> dict:
    response = row.get("http_response") or {}
    try:
        ok = isinstance(json.loads(response["choices"][0]["message"]["content"]), dict)
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    return {"index": row["index"], "ok": ok, "done_at": time.time()}


def run_ray_data_baseline(base_url: str, bodies: list[dict], rps: float | None, actors: int = 8,
                          batch_size: int = 16) -> dict:
    """Ray Data's HTTP request processor over the same bodies; Ray must be running.

    Its stage sends the requests of one batch one after another, pacing them at
    `qps` per batch; Ray Data runs several batches of an actor at once. So `qps`
    is split over the actors, and 429s are retried by its own exponential backoff.
    """
    import ray.data
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    qps = max(1, int(rps / actors)) if rps else None
    config = HttpRequestProcessorConfig(
        url=base_url.rstrip("/") + "/chat/completions", headers={"Authorization": "Bearer bench"},
        qps=qps, max_retries=MAX_ATTEMPTS - 1, base_retry_wait_time_in_s=1, batch_size=batch_size,
        concurrency=(actors, actors), http_request_stage={"num_cpus": 0.1})
    processor = build_processor(config, preprocess=lambda row: {"payload": json.loads(row["body"]), **row},
                                postprocess=_postprocess)
    dataset = ray.data.from_items([{"index": i, "body": json.dumps(b)} for i, b in enumerate(bodies)],
                                     override_num_blocks=actors * 4)  # blocks to keep every actor busy
    started, wall = time.perf_counter(), time.time()
    try:
        rows = processor(dataset).take_all()
        error = None
    except Exception as exc:  # noqa: BLE001 - one request out of retries fails the whole dataset
        rows, error = [], f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    elapsed = time.perf_counter() - started
    # Ray Data gives no per-item start time: latency is from dataset start to the row's answer.
    records = [{"index": r["index"], "status": "completed" if r["ok"] else "failed",
                "error": None if r["ok"] else "bad answer", "latency_ms": (r["done_at"] - wall) * 1000}
               for r in rows]
    return {"elapsed_s": elapsed, "records": records, "error": error,
            "settings": {"qps_per_actor": qps, "actors": actors, "batch_size": batch_size,
                         "max_retries": MAX_ATTEMPTS - 1, "latency_note": "from dataset start"}}
