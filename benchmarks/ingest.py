"""Upload of a 1M-row, ~100 MB CSV until `queued`, beside polars.read_csv of the same file.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--repeat 3]

All in this process's session, each phase `--repeat` times (median reported):
- baseline: a plain `polars.read_csv` of the file;
- service: the real one (local Ray + Serve) from upload start until `queued`;
  each batch is cancelled once queued, so the next upload runs on a quiet machine;
- transport floor: the same multipart body sent through the same Serve proxy to
  a replica that only reads it, which shows what Serve's proxy-to-replica body
  transfer alone costs on this machine; and, for scale, the same body to that
  reading app under plain uvicorn in a process of its own (no Serve).

The service's memory growth is the summed RSS of the Ray worker processes,
sampled during an upload, against the same sum just before it; the largest of
the runs is reported.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import ray  # first: it puts Ray's bundled psutil on sys.path
import psutil  # noqa: I001 (after ray, see above)
from ray import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, rss_mib, start_service, write_results  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    i = pl.int_range(0, rows, eager=True).cast(pl.String)
    pl.DataFrame({
        "content": "Customer " + i + " says the product is fine but delivery took a little too long, sadly.",
        "category": pl.Series(["retail", "b2b", "gov", "edu"] * (rows // 4) + ["retail"] * (rows % 4)),
        "id": "row-" + i,
    }).write_csv(path)


async def read_body(request: Request) -> PlainTextResponse:
    """Read a request body, streaming, and answer with its size: the transport floor."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return PlainTextResponse(str(size))


@serve.deployment(ray_actor_options={"num_cpus": 0})
@serve.ingress(Starlette(routes=[Route("/", read_body, methods=["POST"])]))
class BodyDrain:
    pass


def serve_body_reader(port: int) -> None:
    """The reading app under plain uvicorn (run in a child process)."""
    import uvicorn

    uvicorn.run(Starlette(routes=[Route("/", read_body, methods=["POST"])]), host="127.0.0.1", port=port,
                log_level="warning")


def plain_floor(path: Path, repeat: int) -> list[float]:
    """Seconds to send the file to the reading app under plain uvicorn, `repeat` times."""
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve_body_reader, args=(port,), daemon=True)
    server.start()
    try:
        for _ in range(100):
            try:
                httpx.post(f"http://127.0.0.1:{port}/", content=b"", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        return [post_file(f"http://127.0.0.1:{port}/", path)[0] for _ in range(repeat)]
    finally:
        server.terminate()
        server.join()


def ray_processes() -> list[psutil.Process]:
    """This machine's Ray worker processes (the service's replica, callers, coordinators)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "ray::" in cmdline or "default_worker.py" in cmdline:
            found.append(process)
    return found


class PeakSampler:
    """The peak summed RSS of the Ray processes, sampled every 50 ms on a thread.

    The process list is refreshed only every second: listing every process's
    command line takes the GIL long enough to slow the upload it measures.
    """

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        processes, listed = [], 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed > 1.0:
                processes, listed = ray_processes(), time.monotonic()
            self.peak = max(self.peak, rss_mib(processes))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def wait_until_cancelled(url: str, batch_id: str) -> None:
    for _ in range(600):
        if httpx.get(f"{url}/api/batches/{batch_id}", timeout=60).json()["status"] == "cancelled":
            time.sleep(1)  # its coordinator exits
            return
        time.sleep(0.1)
    raise RuntimeError(f"{batch_id} was not cancelled within a minute")


def post_file(url: str, path: Path) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    with open(path, "rb") as handle:
        response = httpx.post(url, timeout=600, data={"operation": "label", "categories": "a,b,c"},
                              files={"file": (path.name, handle, "text/csv")})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reads, uploads, floors, growths = [], [], [], []
    with tempfile.TemporaryDirectory() as work, SimulatorProcess.start(SimulatorConfig(latency_ms=1000)) as sim:
        path = Path(work) / "customers.csv"
        make_csv(path, args.rows)
        size_mib = path.stat().st_size / 2**20
        for _ in range(args.repeat):
            started = time.perf_counter()
            frame = pl.read_csv(path)
            reads.append(time.perf_counter() - started)
            assert frame.height == args.rows
            del frame
        url = start_service(sim.base_url, str(Path(work) / "store"), free_port(),
                            AGENTFLOW_MAX_UPLOAD_BYTES=str(200 * 2**20))
        serve.run(BodyDrain.bind(), name="body-drain", route_prefix="/body-drain")
        time.sleep(2)
        for _ in range(args.repeat):
            before = rss_mib(ray_processes())
            with PeakSampler() as sampler:
                elapsed, response = post_file(f"{url}/api/files", path)
            created = response.json()
            assert created["status"] == "queued" and created["total_items"] == args.rows, created
            uploads.append(elapsed)
            growths.append(sampler.peak - before)
            httpx.post(f"{url}/api/batches/{created['batch_id']}/cancel", timeout=60).raise_for_status()
            wait_until_cancelled(url, created["batch_id"])  # it records 1M cancelled items: a busy second
        for _ in range(args.repeat):
            elapsed, response = post_file(f"{url}/body-drain/", path)
            assert int(response.text) > path.stat().st_size, response.text
            floors.append(elapsed)
        serve.delete("body-drain")
        ray.shutdown()
        plain = plain_floor(path, args.repeat)

    read_s, upload_s, floor_s, plain_s = (statistics.median(values) for values in (reads, uploads, floors, plain))
    growth = max(growths)
    print(f"file: {args.rows:,} rows, {size_mib:.0f} MiB; median of {args.repeat}")
    print(f"{'phase':<44}{'seconds':>9}   runs")
    for name, median, runs in (("polars.read_csv (baseline)", read_s, reads),
                               ("upload until queued (service)", upload_s, uploads),
                               ("same body to a replica that only reads it", floor_s, floors),
                               ("same body to plain uvicorn (no Serve)", plain_s, plain)):
        print(f"{name:<44}{median:>9.2f}   {', '.join(f'{run:.2f}' for run in runs)}")
    print(f"ratio upload / read_csv: {upload_s / read_s:.2f}x   (target <= 3x)")
    print(f"ratio transport floor / read_csv: {floor_s / read_s:.2f}x")
    print(f"service memory growth during an upload: at most {growth:.0f} MiB (target <= 1024 MiB)")
    write_results("ingest", {
        "rows": args.rows, "file_mib": round(size_mib, 1), "repeat": args.repeat,
        "read_csv_s": round(read_s, 3), "upload_until_queued_s": round(upload_s, 3),
        "transport_floor_s": round(floor_s, 3), "plain_uvicorn_floor_s": round(plain_s, 3),
        "ratio": round(upload_s / read_s, 2),
        "transport_floor_ratio": round(floor_s / read_s, 2),
        "runs": {name: [round(v, 3) for v in values] for name, values in (
            ("read_csv_s", reads), ("upload_until_queued_s", uploads), ("transport_floor_s", floors),
            ("plain_uvicorn_floor_s", plain))},
        "service_growth_mib": round(growth), "service_growth_mib_runs": [round(v) for v in growths],
    })


if __name__ == "__main__":
    main()
