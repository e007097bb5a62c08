"""Results out: output records as a DataFrame, and the file format a path names.

Pure Python and Polars: no Ray, no HTTP.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl

from engine.errors import InvalidRequest

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
FIXED_COLUMNS = ("index", "id", "status", "model")
ERROR_COLUMNS = ("error_type", "error_message", "provider")  # after the result fields


def results_frame(records: Iterable[dict]) -> pl.DataFrame:
    """One row per record: index, id, status, the result's fields, model, confidence, error_type, error_message,
    provider.

    A result that is an object gives one column per field (nested objects as
    JSON text); any other result (a summary's text) is the `result` column.
    `model` is the model that answered; `confidence` the answer's (a label's
    own confidence field is already that column).
    """
    rows = list(records)
    results = [r.get("result") for r in rows]
    fields: dict[str, list] = {}
    if any(v is not None and not isinstance(v, dict) for v in results):
        fields["result"] = results
    else:
        names = dict.fromkeys(name for v in results if v for name in v)
        for name in names:
            column = name if name not in FIXED_COLUMNS + ERROR_COLUMNS else f"result_{name}"
            fields[column] = [v.get(name) if v else None for v in results]
    answered = {"model": pl.Series("model", [r.get("model") for r in rows], pl.String)}
    if "confidence" not in fields:
        answered["confidence"] = pl.Series("confidence", [r.get("confidence") for r in rows], pl.Float64)
    errors = [r.get("error") or {} for r in rows]
    columns = {
        "index": pl.Series("index", [r["index"] for r in rows], pl.Int64),
        "id": pl.Series("id", [r.get("id") for r in rows], pl.String),
        "status": pl.Series("status", [r["status"] for r in rows], pl.String),
        **{name: _column(name, values) for name, values in fields.items()},
        **answered,
        "error_type": pl.Series("error_type", [e.get("type") for e in errors], pl.String),
        "error_message": pl.Series("error_message", [e.get("message") for e in errors], pl.String),
        "provider": pl.Series("provider", [r.get("provider") for r in rows], pl.String),
    }
    return pl.DataFrame(list(columns.values()))


def _column(name: str, values: list) -> pl.Series:
    """Scalars and lists of scalars as they are; objects (which Polars would coerce lossily) as JSON text."""
    nested = any(isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v))
                 for v in values)
    if not nested:
        try:
            return pl.Series(name, values, strict=False)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            pass  # mixed lists and scalars: fall through to text
    return pl.Series(name, [None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pl.String)


def file_format(path: str | os.PathLike) -> str:
    """The output format named by a file's extension."""
    fmt = FILE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidRequest(f"cannot tell the format of {str(path)!r}: name it .csv, .jsonl, .json or .parquet",
                             field="path")
    return fmt


def json_array(jsonl: Iterable[bytes]) -> Iterator[bytes]:
    """JSON lines (in pieces that may split a line) as one JSON array, streamed."""
    yield b"["
    pending, first = b"", True
    for piece in jsonl:
        *lines, pending = (pending + piece).split(b"\n")
        for line in lines:
            if line.strip():
                yield line if first else b"," + line
                first = False
    if pending.strip():
        yield pending if first else b"," + pending
    yield b"]"
