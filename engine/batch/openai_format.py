"""The OpenAI Batch API's JSONL lines: input lines checked, output and error lines written. Pure.

An input line (OpenAI, Azure, vLLM's run_batch and LiteLLM share it):

    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": ..., "messages": [...]}}

An output line (one per request that succeeded) and an error line (one per request that did not):

    {"id": "batch_req_...", "custom_id": "r1", "response": {"status_code": 200, "request_id": "req_...",
     "body": <the provider's chat completion>}, "error": null}
    {"id": "batch_req_...", "custom_id": "r2", "response": null, "error": {"code": ..., "message": ...}}

Line numbers are those of the file (1-based, blank lines counted and skipped).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import polars as pl

CHAT_ENDPOINT = "/v1/chat/completions"
ENDPOINTS = (CHAT_ENDPOINT,)
MAX_LINES = 1_000_000
MAX_ERRORS = 1_000  # kept and reported; checking goes on, to count lines
MAX_CUSTOM_ID_CHARS = 256  # the store's item id limit
FRAME_ROWS = 10_000


@dataclass
class LineErrors:
    """What checking a file found: its requests, the model they name, and the errors (line-numbered)."""

    requests: int = 0
    models: set = field(default_factory=set)
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0

    def add(self, code: str, line: int | None, message: str, param: str | None = None) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "line": line, "message": message, "param": param})


def check_lines(lines: Iterable[bytes], endpoint: str) -> LineErrors:
    """Check every line of a batch file; nothing is kept per line but its custom_id (for uniqueness)."""
    report = LineErrors()
    ids: list[str] = []
    numbers: list[int] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        report.requests += 1
        line = _check_line(report, number, raw, endpoint)
        if line is not None:
            ids.append(line["custom_id"])
            numbers.append(number)
    if report.requests > MAX_LINES:
        report.add("too_many_requests", None, f"the file holds {report.requests:,} requests: at most {MAX_LINES:,}")
    if len(report.models) > 1:
        names = ", ".join(sorted(report.models)[:5])
        report.add("mismatched_model", None, f"every request of a batch must use the same model; found {names}",
                   "body.model")
    _check_unique(report, ids, numbers)
    report.errors.sort(key=lambda e: (e["line"] is None, e["line"] or 0))
    return report


def _check_line(report: LineErrors, number: int, raw: bytes, endpoint: str) -> dict | None:
    """The line, parsed, if it is valid; otherwise its errors are added to `report` and None returned."""
    try:
        line = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        report.add("invalid_json_line", number, f"line {number} is not valid JSON: {exc}")
        return None
    if not isinstance(line, dict):
        report.add("invalid_json_line", number, f"line {number} is not a JSON object")
        return None
    before = report.error_count
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        report.add("invalid_custom_id", number, f"line {number}: custom_id must be a string of 1 to "
                   f"{MAX_CUSTOM_ID_CHARS} characters", "custom_id")
    if line.get("method", "POST") != "POST":
        report.add("invalid_method", number, f"line {number}: method must be POST", "method")
    if line.get("url") != endpoint:
        report.add("invalid_url", number, f"line {number}: url {line.get('url')!r} is not the batch's "
                   f"endpoint {endpoint}", "url")
    _check_body(report, number, line.get("body"))
    return line if report.error_count == before else None


def _check_body(report: LineErrors, number: int, body) -> None:
    if not isinstance(body, dict):
        report.add("missing_required_parameter", number, f"line {number}: body must be a JSON object", "body")
        return
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        report.add("missing_required_parameter", number, f"line {number}: body.model is required", "body.model")
    else:
        report.models.add(model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        report.add("missing_required_parameter", number, f"line {number}: body.messages must be a non-empty "
                   "list of messages", "body.messages")
    if body.get("stream"):
        report.add("invalid_parameter", number, f"line {number}: body.stream is not allowed in a batch",
                   "body.stream")


def _check_unique(report: LineErrors, ids: list[str], numbers: list[int]) -> None:
    # Arrow strings: ~20 bytes a custom_id where a Python set would take ~80.
    frame = pl.DataFrame({"custom_id": ids, "line": numbers}, schema={"custom_id": pl.String, "line": pl.Int64})
    repeated = frame.filter(~pl.col("custom_id").is_first_distinct())
    for custom_id, number in repeated.head(MAX_ERRORS).iter_rows():
        report.add("duplicate_custom_id", number, f"line {number}: custom_id {custom_id!r} is used by an earlier "
                   "line", "custom_id")
    report.error_count += max(0, repeated.height - MAX_ERRORS)


def item_frames(lines: Iterable[bytes], rows: int = FRAME_ROWS) -> Iterator[pl.DataFrame]:
    """The lines of a checked file as store input frames: content the body (JSON), id the custom_id."""
    bodies: list[str] = []
    ids: list[str] = []
    for raw in lines:
        if not raw.strip():
            continue
        line = json.loads(raw)
        bodies.append(json.dumps(line["body"], ensure_ascii=False, separators=(",", ":")))
        ids.append(line["custom_id"])
        if len(ids) >= rows:
            yield _frame(bodies, ids)
            bodies, ids = [], []
    if ids:
        yield _frame(bodies, ids)


def _frame(bodies: list[str], ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"content": bodies, "id": ids, "metadata": [None] * len(ids)},
                        schema={"content": pl.String, "id": pl.String, "metadata": pl.String})


# ---- output -------------------------------------------------------------------


def request_ids(batch_id: str, index: int) -> tuple[str, str]:
    """(id, request_id) of a line's answer: the same on every download."""
    digest = hashlib.blake2b(f"{batch_id}:{index}".encode(), digest_size=12).hexdigest()
    return f"batch_req_{digest}", f"req_{digest}"


def output_lines(frame: pl.DataFrame, batch_id: str) -> bytes:
    """The output-file lines of a frame of stored outcomes (OUTPUT_COLUMNS): its completed rows."""
    out = []
    done = frame.filter(pl.col("status") == "completed")
    for index, custom_id, result in done.select("index", "id", "result").iter_rows():
        line_id, request_id = request_ids(batch_id, index)
        # The stored result is the completion's JSON text already: spliced in, not parsed and dumped again.
        head = json.dumps({"id": line_id, "custom_id": custom_id}, ensure_ascii=False)[:-1]
        out.append(f'{head}, "response": {{"status_code": 200, "request_id": "{request_id}", "body": {result}}}, '
                   f'"error": null}}\n')
    return "".join(out).encode()


def error_lines(frame: pl.DataFrame, batch_id: str) -> bytes:
    """The error-file lines of a frame of stored outcomes: its failed and cancelled rows."""
    out = []
    ended = frame.filter(pl.col("status").is_in(["failed", "cancelled"]))
    for index, custom_id, status, kind, message in ended.select(
            "index", "id", "status", "error_type", "error_message").iter_rows():
        line_id, _ = request_ids(batch_id, index)
        code = "batch_cancelled" if status == "cancelled" else (kind or "internal_error")
        error = {"code": code, "message": message or status}
        out.append(json.dumps({"id": line_id, "custom_id": custom_id, "response": None, "error": error},
                              ensure_ascii=False) + "\n")
    return "".join(out).encode()
