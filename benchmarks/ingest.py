"""Upload of a 1M-row, ~100 MB CSV until `queued`, beside polars.read_csv of the same file.

    .venv/bin/python benchmarks/ingest.py [--rows 1000000]

Both run in this process's session: the baseline is a plain `polars.read_csv`
(timed here); the service is the real one (local Ray + Serve), and its memory
is the summed RSS of the Ray worker processes, sampled during the upload,
against the same sum just before it. The batch is cancelled once queued.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import ray  # also puts Ray's bundled psutil on sys.path
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, start_service, write_results  # noqa: E402
from engine.sim_process import SimulatorProcess  # noqa: E402
from engine.simulator import SimulatorConfig  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    i = pl.int_range(0, rows, eager=True).cast(pl.String)
    pl.DataFrame({
        "content": "Customer " + i + " says the product is fine but delivery took a little too long, sadly.",
        "category": pl.Series(["retail", "b2b", "gov", "edu"] * (rows // 4) + ["retail"] * (rows % 4)),
        "id": "row-" + i,
    }).write_csv(path)


def ray_rss_mib() -> float:
    """Summed RSS of this machine's Ray processes (the service's replica, callers, coordinators)."""
    total = 0
    for process in psutil.process_iter(["cmdline", "memory_info"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "ray::" in cmdline or "default_worker.py" in cmdline:
            total += process.info["memory_info"].rss if process.info["memory_info"] else 0
    return total / 2**20


class PeakSampler:
    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, ray_rss_mib())
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def upload(url: str, path: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    with open(path, "rb") as handle:
        response = httpx.post(f"{url}/api/files", timeout=600, data={"operation": "label", "categories": "a,b,c"},
                              files={"file": (path.name, handle, "text/csv")})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, SimulatorProcess.start(SimulatorConfig(latency_ms=1000)) as sim:
        path = Path(work) / "customers.csv"
        make_csv(path, args.rows)
        size_mib = path.stat().st_size / 2**20
        started = time.perf_counter()
        frame = pl.read_csv(path)
        read_s = time.perf_counter() - started
        assert frame.height == args.rows
        del frame
        url = start_service(sim.base_url, str(Path(work) / "store"), free_port(),
                            AGENTFLOW_MAX_UPLOAD_BYTES=str(200 * 2**20))
        time.sleep(2)
        before = ray_rss_mib()
        with PeakSampler() as sampler:
            upload_s, created = upload(url, path)
        httpx.post(f"{url}/api/batches/{created['batch_id']}/cancel", timeout=60)
        ray.shutdown()

    growth = sampler.peak - before
    print(f"file: {args.rows:,} rows, {size_mib:.0f} MiB")
    print(f"{'phase':<34}{'seconds':>9}")
    print(f"{'polars.read_csv (baseline)':<34}{read_s:>9.2f}")
    print(f"{'upload until queued (service)':<34}{upload_s:>9.2f}")
    print(f"ratio upload / read_csv: {upload_s / read_s:.2f}x   (target <= 3x)")
    print(f"service memory growth during upload: {growth:.0f} MiB (target <= 1024 MiB)")
    write_results("ingest", {"rows": args.rows, "file_mib": round(size_mib, 1), "read_csv_s": round(read_s, 3),
                             "upload_until_queued_s": round(upload_s, 3), "ratio": round(upload_s / read_s, 2),
                             "service_rss_before_mib": round(before), "service_rss_peak_mib": round(sampler.peak),
                             "service_growth_mib": round(growth), "total_items": created["total_items"]})


if __name__ == "__main__":
    main()
