"""Results in, json/jsonl/csv/parquet out.

A record is {"index", "id", "status", "result", "error"} plus optional scalar
keys (attempts, cached, ...), which every format keeps; with the input's
columns, also "input" (an object of them, the last key).
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Iterable, Iterator

import polars as pl

from engine.errors import InvalidRequest
from loaders.csv_export import iter_csv, iter_csv_frames

OUTPUT_FORMATS = ("json", "jsonl", "csv", "parquet")
# One encoder for every line: json.dumps with options builds a new one per call (~25% slower).
_ENCODER = json.JSONEncoder(ensure_ascii=False)

__all__ = ["OUTPUT_FORMATS", "iter_csv", "iter_csv_frames", "iter_jsonl", "iter_jsonl_frames", "write_json",
           "write_results"]


def write_json(records: Iterable[dict]) -> bytes:
    """The records as one JSON array (UTF-8, non-ASCII kept as is)."""
    return _ENCODER.encode(list(records)).encode()


def iter_jsonl(records: Iterable[dict], *, chunk_rows: int = 1_000) -> Iterator[bytes]:
    """One JSON line per record, streamed; each bytes piece holds up to `chunk_rows` lines."""
    iterator = iter(records)
    while chunk := list(islice(iterator, chunk_rows)):
        yield "".join(_ENCODER.encode(record) + "\n" for record in chunk).encode()


def iter_jsonl_frames(frames: Iterable[pl.DataFrame], with_input: bool = False) -> Iterator[bytes]:
    """JSON lines built by Polars from frames of result rows (as `BatchStore.iter_result_frames` gives).

    Columns: index, id, status, result (JSON text, spliced in as it is), error_type,
    error_message, attempts, cached, model, confidence, provider. The lines hold the same records as
    `iter_jsonl`, compact, several times faster (no Python object per item).
    `with_input`: the frames also have an "input" struct column
    (OutputShape.with_input_struct), each record's "input".
    """
    error = (pl.when(pl.col("error_type").is_null()).then(None)
             .otherwise(pl.struct(type="error_type", message="error_message")))
    # Encode with a null result, then splice the stored JSON text in: the first `"result":null`
    # of a line is that key's, since a quote inside an encoded string is escaped. "input" comes
    # last: an input column named result would otherwise be matched first. One replace on
    # every line (null by null where there is no result): a when/then over `line` and its
    # splice encoded every line twice.
    tail = ["input"] if with_input else []
    line = pl.struct("index", "id", "status", pl.lit(None).alias("result"), error.alias("error"),
                     "attempts", "cached", "model", "confidence", "provider", *tail).struct.json_encode()
    result = pl.lit('"result":') + pl.col("result").fill_null("null")
    lines = line.str.replace('"result":null', result, literal=True, n=1)
    for frame in frames:
        if frame.height:
            yield (frame.select(lines.str.join("\n")).item() + "\n").encode()


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
