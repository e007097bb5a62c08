"""A 1M-row CSV upload end to end over HTTP: its outputs give every input column back, row by row.

    .venv/bin/python benchmarks/upload_output.py [--rows 1000000] [--cancel]

The real service (local Ray + Serve) against the simulator in a process of its
own: a CSV of `--rows` rows (review_id, review, product, stars; values a round
trip could spoil: leading zeros, commas, quotes, line breaks, non-ASCII, empty
cells, number-like text) is uploaded to POST /api/files, classified to the
end, then its CSV, JSONL and Parquet outputs are downloaded over HTTP and
compared with the file's rows one by one, as they stream (the check holds one
row at a time, never the whole output). Classifying 1M items through the
simulator takes about 35 minutes on a shared 2-core machine; `--cancel`
cancels the batch once uploaded instead, so its coordinator ends every item
cancelled in seconds: the same upload, store, join and downloads, with empty
result columns.

Memory: the RSS of the serving processes (the Serve replica that builds the
output, the proxy that streams it) and of all of this run's Ray processes, just
before each download and at its peak (sampled every 50 ms); the growth is the
peak minus the value before. Only this process's own Ray is counted (its
descendants): the machine may run other Rays. Writes benchmarks/results/upload_output.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pyarrow.parquet as pq
import ray  # noqa: F401 - puts Ray's bundled psutil on sys.path
import psutil  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, rss_mib, start_service, write_results  # noqa: E402
from engine.sim.process import SimulatorProcess  # noqa: E402
from engine.sim.simulator import SimulatorConfig  # noqa: E402

HEADER = ["review_id", "review", "product", "stars"]
REVIEWS = ["review {i}: the product was fine", 'review {i}: "great", really, said Zoë', "review {i}: two\nlines",
           "plain text, with a comma {i}"]
TAIL = ["status", "error_type", "error_message", "index", "attempts", "cached"]
ROLES = {"replica": "ServeReplica", "proxy": "ProxyActor"}


def row(i: int) -> dict:
    """The file's row i, as text (a CSV upload's columns are all text)."""
    return {"review_id": f"{i:07d}", "review": REVIEWS[i % len(REVIEWS)].format(i=i),
            "product": "" if i % 97 == 0 else f"p-{i % 50}", "stars": "-3.5" if i % 1000 == 7 else str(i % 5 + 1)}


def make_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(map(row, range(rows)))


# ---- the service's memory -------------------------------------------------------------


def own_ray_processes() -> dict[str, list[psutil.Process]]:
    """This run's Ray processes (descendants of this process), and among them the serving ones by role."""
    found = {"all": [], **{role: [] for role in ROLES}}
    for process in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if "engine.sim.simulator" in cmdline:
            continue  # the provider, not the service
        found["all"].append(process)
        for role, marker in ROLES.items():
            if marker in cmdline:
                found[role].append(process)
    return found


class Memory:
    """RSS of each group of own_ray_processes before the block, and its peak during it."""

    def __enter__(self):
        self._groups = own_ray_processes()
        self.before = {name: rss_mib(group) for name, group in self._groups.items()}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        listed = time.monotonic()
        while not self._stop.wait(0.05):
            if time.monotonic() - listed > 1.0:  # a batch's coordinator starts after the upload
                self._groups, listed = own_ray_processes(), time.monotonic()
            for name, group in self._groups.items():
                self.peak[name] = max(self.peak[name], rss_mib(group))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def report(self) -> dict:
        return {name: {"before_mib": round(self.before[name]), "peak_mib": round(self.peak[name]),
                       "growth_mib": round(self.peak[name] - self.before[name], 1)} for name in self.before}


# ---- the outputs, checked as they stream ----------------------------------------------


def lines_with_ends(response: httpx.Response) -> Iterator[str]:
    """The body's lines, split at "\n" only and each with its end: csv.reader joins a quoted cell's
    line breaks, and a CRLF split across two pieces of the body stays one line end."""
    pending = ""
    for text in response.iter_text():
        *lines, pending = (pending + text).split("\n")
        for line in lines:
            yield line + "\n"
    if pending:
        yield pending


def result_ok(status: str, label) -> bool:
    """A completed row has its label; a cancelled one (--cancel) has none."""
    return (status == "completed" and label in ("good", "bad")) or (status == "cancelled" and label in ("", None))


def check_csv(response: httpx.Response, rows: int) -> int:
    reader = csv.reader(lines_with_ends(response))
    header = next(reader)
    assert header == HEADER + ["label", "confidence"] + TAIL, header
    count = 0
    for i, cells in enumerate(reader):
        assert dict(zip(HEADER, cells[:4])) == row(i), (i, cells)
        assert result_ok(cells[6], cells[4]) and cells[9] == str(i), (i, cells)
        count += 1
    return count


def check_jsonl(response: httpx.Response, rows: int) -> int:
    count = 0
    for i, line in enumerate(response.iter_lines()):
        record = json.loads(line)
        assert list(record["input"]) == HEADER and record["input"] == row(i), (i, record)
        assert record["index"] == i and record["id"] == row(i)["review_id"], (i, record)
        assert result_ok(record["status"], (record["result"] or {}).get("label")), (i, record)
        count += 1
    return count


def check_parquet(response: httpx.Response, rows: int, directory: Path) -> int:
    path = directory / "output.parquet"
    with open(path, "wb") as file:
        for piece in response.iter_bytes():
            file.write(piece)
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow.names == HEADER + ["label", "confidence"] + TAIL, parquet.schema_arrow.names
    count = 0
    for batch in parquet.iter_batches(batch_size=10_000, columns=HEADER + ["label", "status"]):
        columns = batch.to_pydict()
        for offset, values in enumerate(zip(*(columns[name] for name in HEADER))):
            assert dict(zip(HEADER, values)) == row(count + offset), (count + offset, values)
        assert all(map(result_ok, columns["status"], columns["label"])), count
        count += batch.num_rows
    return count


def download(url: str, fmt: str, rows: int, directory: Path) -> dict:
    """One output downloaded and checked row by row, with the seconds and the service's memory."""
    started = time.perf_counter()
    with Memory() as memory, httpx.stream("GET", url, params={"format": fmt}, timeout=600) as response:
        assert response.status_code == 200, response.read()
        if fmt == "csv":
            checked = check_csv(response, rows)
        elif fmt == "jsonl":
            checked = check_jsonl(response, rows)
        else:
            checked = check_parquet(response, rows, directory)
        size = response.num_bytes_downloaded
    assert checked == rows, (fmt, checked, rows)
    return {"format": fmt, "rows_checked": checked, "bytes": size,
            "seconds_with_check": round(time.perf_counter() - started, 1), "memory": memory.report()}


def wait_finished(url: str, batch_id: str) -> dict:
    while True:
        status = httpx.get(f"{url}/api/batches/{batch_id}", timeout=60).json()
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cancel", action="store_true",
                        help="cancel the batch once uploaded (its items end cancelled, by the coordinator, in seconds "
                             "rather than the simulator's ~30 minutes for 1M): the input columns are checked the same")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, SimulatorProcess.start(SimulatorConfig(latency_ms=20)) as sim:
        directory = Path(work)
        path = directory / "reviews.csv"
        make_csv(path, args.rows)
        file_mib = path.stat().st_size / 2**20
        url = start_service(sim.base_url, str(directory / "store"), free_port())
        started = time.perf_counter()
        with Memory() as upload_memory, open(path, "rb") as file:
            created = httpx.post(f"{url}/api/files", timeout=600, files={"file": (path.name, file, "text/csv")},
                                 data={"operation": "classify", "categories": "good,bad", "content_column": "review",
                                       "id_column": "review_id"})
            assert created.status_code == 201, created.text
            batch_id = created.json()["batch_id"]
            if args.cancel:
                httpx.post(f"{url}/api/batches/{batch_id}/cancel", timeout=60).raise_for_status()
            final = wait_finished(url, batch_id)
        run_seconds = time.perf_counter() - started
        ended = final["completed_items"] + final["cancelled_items"]
        assert final["status"] == ("cancelled" if args.cancel else "completed") and ended == args.rows, final
        output = f"{url}/api/batches/{batch_id}/output"
        downloads = [download(output, fmt, args.rows, directory) for fmt in ("csv", "jsonl", "parquet")]

    print(f"{args.rows:,} rows ({file_mib:.0f} MiB CSV): uploaded and {'cancelled' if args.cancel else 'classified'} "
          f"in {run_seconds:.0f} s: {final['completed_items']:,} completed, {final['cancelled_items']:,} cancelled")
    for run in downloads:
        memory = run["memory"]
        print(f"{run['format']:8} {run['rows_checked']:,} rows checked, {run['bytes'] / 2**20:6.1f} MiB, "
              f"{run['seconds_with_check']:6.1f} s; RSS growth: replica +{memory['replica']['growth_mib']:.0f} MiB "
              f"(from {memory['replica']['before_mib']}), proxy +{memory['proxy']['growth_mib']:.0f} MiB, "
              f"all Ray processes +{memory['all']['growth_mib']:.0f} MiB (from {memory['all']['before_mib']})")
    write_results("upload_output", {"rows": args.rows, "cancelled": args.cancel, "completed_items": final["completed_items"],
                                    "cancelled_items": final["cancelled_items"], "file_mib": round(file_mib, 1),
                                    "upload_and_run_seconds": round(run_seconds),
                                    "upload_and_run_memory": upload_memory.report(), "downloads": downloads})


if __name__ == "__main__":
    main()
