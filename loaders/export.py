"""Results in, json/jsonl/csv out.

A record is {"index", "id", "status", "result", "error"} plus optional scalar
keys (attempts, cached, ...), which every format keeps.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Iterable, Iterator

from engine.errors import InvalidRequest
from loaders.csv_export import iter_csv

OUTPUT_FORMATS = ("json", "jsonl", "csv")
# One encoder for every line: json.dumps with options builds a new one per call (~25% slower).
_ENCODER = json.JSONEncoder(ensure_ascii=False)

__all__ = ["OUTPUT_FORMATS", "iter_csv", "iter_jsonl", "write_json", "write_results"]


def write_json(records: Iterable[dict]) -> bytes:
    """The records as one JSON array (UTF-8, non-ASCII kept as is)."""
    return _ENCODER.encode(list(records)).encode()


def iter_jsonl(records: Iterable[dict], *, chunk_rows: int = 1_000) -> Iterator[bytes]:
    """One JSON line per record, streamed; each bytes piece holds up to `chunk_rows` lines."""
    iterator = iter(records)
    while chunk := list(islice(iterator, chunk_rows)):
        yield "".join(_ENCODER.encode(record) + "\n" for record in chunk).encode()


def write_results(records: Iterable[dict], format: str, *,
                  result_columns: list[str] | None = None) -> Iterator[bytes]:
    """The records in `format` (json, jsonl or csv) as bytes pieces; json is a single piece.

    `result_columns` only shapes CSV (see iter_csv).
    """
    if format == "json":
        return iter([write_json(records)])
    if format == "jsonl":
        return iter_jsonl(records)
    if format == "csv":
        return iter_csv(records, result_columns=result_columns)
    raise InvalidRequest(f"format {format!r} is not supported; use one of: {', '.join(OUTPUT_FORMATS)}",
                         field="format")
