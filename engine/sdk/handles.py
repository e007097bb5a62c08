"""What the Python driver and the HTTP client share: items in, a batch handle out.

- `input_frame` / `item_dicts`: a list of dicts or strings, or a Polars
  DataFrame, as the store's input frame or as the API's item objects.
- `results_frame`: output records (one per item, in order) as a DataFrame with
  the result's fields flattened into columns.
- `BatchHandle`: `wait` (with a progress bar), `results` and `to_file`, built
  on the four things a backend provides: status, cancel, records, export.

Pure Python and Polars: no Ray, no HTTP.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import polars as pl
from pydantic import TypeAdapter, ValidationError

from engine.errors import InvalidRequest, PayloadTooLarge
from engine.models import FINISHED_STATES, MAX_BATCH_ITEMS, MAX_CONTENT_CHARS, Item
from engine.sdk.progress import ProgressBar
from loaders import ItemFrames, columns_of_schema

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
COLUMN_OPTIONS = ("content_column", "id_column", "metadata_columns")  # which DataFrame or file columns are what
LOADER_OPTIONS = ("format", *COLUMN_OPTIONS)
FIXED_COLUMNS = ("index", "id", "status")
ERROR_COLUMNS = ("error_type", "error_message")
MAX_ID_CHARS = next(m.max_length for m in Item.model_fields["id"].metadata if hasattr(m, "max_length"))
_ITEMS = TypeAdapter(list[Item])


def is_path(items: Any) -> bool:
    """A single string or path names a file; a list of strings is a list of items."""
    return isinstance(items, (str, os.PathLike))


def invalid(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    """A pydantic error as the engine's `InvalidRequest`, naming the first bad field."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    field = prefix + ".".join(str(part) for part in first["loc"]) or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidRequest(f"{field}: {first['msg']}{more}", field=field)


def check_count(count: int, limit: int = MAX_BATCH_ITEMS, hint: str = "") -> None:
    """No items is a 422 and more than `limit` a 413, as the HTTP API answers."""
    if count == 0:
        raise InvalidRequest("there are no items", field="items")
    if count > limit:
        raise PayloadTooLarge(f"{count} items: at most {limit} per request{hint}", field="items")


def input_frame(data: pl.DataFrame, content_column: str | None = None, id_column: str | None = None,
                metadata_columns: list[str] | None = None) -> pl.DataFrame:
    """A DataFrame as input rows: content, id, metadata (JSON text of the other columns)."""
    content, id_, metadata = _choose_columns(data.columns, content_column, id_column, metadata_columns)
    frame = data.select(
        pl.col(content).cast(pl.String).alias("content"),
        (pl.col(id_).cast(pl.String) if id_ else pl.lit(None, pl.String)).alias("id"),
        (pl.struct(metadata).struct.json_encode() if metadata else pl.lit(None, pl.String)).alias("metadata"),
    )
    check_count(frame.height)
    _reject_first(frame, pl.col("content").is_null(), "content", "is missing (null)")
    _reject_first(frame, pl.col("content").str.len_chars() > MAX_CONTENT_CHARS, "content",
                  f"is longer than {MAX_CONTENT_CHARS} characters")
    _reject_first(frame, pl.col("id").str.len_chars() > MAX_ID_CHARS, "id",
                  f"is longer than {MAX_ID_CHARS} characters")
    return frame


def dataframe_items(data: pl.DataFrame, content_column: str | None = None, id_column: str | None = None,
                    metadata_columns: list[str] | None = None) -> ItemFrames:
    """`input_frame` of a DataFrame, with its input columns (so its output gives them back)."""
    frame = input_frame(data, content_column, id_column, metadata_columns)
    content, id_, metadata = _choose_columns(data.columns, content_column, id_column, metadata_columns)
    return ItemFrames([frame], columns_of_schema(data.columns, data.schema, content, id_, metadata))


def _choose_columns(found: list[str], content: str | None, id_: str | None,
                    metadata: list[str] | None) -> tuple[str, str | None, list[str]]:
    """content (default "content"), id (default "id" if present), metadata (default: the rest)."""
    content = content or "content"
    id_ = id_ or ("id" if "id" in found else None)
    metadata = [c for c in found if c not in (content, id_)] if metadata is None else list(metadata)
    chosen = [(content, "content_column"), (id_, "id_column"), *((name, "metadata_columns") for name in metadata)]
    for name, option in chosen:
        if name is not None and name not in found:
            raise InvalidRequest(f"the DataFrame has no {name!r} column (columns: {', '.join(found)})", field=option)
    return content, id_, metadata


def _reject_first(frame: pl.DataFrame, condition: pl.Expr, column: str, reason: str) -> None:
    """InvalidRequest naming the first row where `condition` holds, as the API would name it."""
    rows = frame.with_row_index("row").filter(condition)["row"]
    if len(rows):
        field = f"items.{rows[0]}.{column}"
        raise InvalidRequest(f"{field} {reason}", field=field)


def parse_items(items: Any) -> list[Item]:
    """A list of dicts ({content, metadata?, id?}) or strings, validated."""
    if not isinstance(items, (list, tuple)):
        raise InvalidRequest("items must be a list of dicts or strings, a Polars DataFrame, or a file path",
                             field="items")
    check_count(len(items))
    raw = [{"content": item} if isinstance(item, str) else item for item in items]
    try:
        return _ITEMS.validate_python(raw)
    except ValidationError as exc:
        raise invalid(exc, "items.") from None


def item_dicts(items: Any, **columns) -> list[dict]:
    """Items (dicts, strings, or a DataFrame) as the API's item objects, validated."""
    if isinstance(items, pl.DataFrame):
        frame = input_frame(items, **columns)
        return [{k: v for k, v in {"content": content, "id": id_,
                                   "metadata": json.loads(meta) if meta else None}.items() if v is not None}
                for content, id_, meta in frame.iter_rows()]
    reject_columns(columns)
    return [item.model_dump(exclude_none=True) for item in parse_items(items)]


def reject_columns(columns: dict) -> None:
    """Column choices make sense for a DataFrame or a file, not for a list."""
    for name, value in columns.items():
        if value:
            raise InvalidRequest(f"{name} applies to a DataFrame or a file, not to a list of items", field=name)


def results_frame(records: Iterable[dict]) -> pl.DataFrame:
    """One row per record: index, id, status, the result's fields, error_type, error_message.

    A result that is an object gives one column per field (nested objects as
    JSON text); any other result (a summary's text) is the `result` column.
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
    errors = [r.get("error") or {} for r in rows]
    columns = {
        "index": pl.Series("index", [r["index"] for r in rows], pl.Int64),
        "id": pl.Series("id", [r.get("id") for r in rows], pl.String),
        "status": pl.Series("status", [r["status"] for r in rows], pl.String),
        **{name: _column(name, values) for name, values in fields.items()},
        "error_type": pl.Series("error_type", [e.get("type") for e in errors], pl.String),
        "error_message": pl.Series("error_message", [e.get("message") for e in errors], pl.String),
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


class SyncOperations:
    """The five sync operations (up to 50 items each), shared by the driver and the HTTP client.

    Each returns the API's response: {"results": [...], "model", "usage", "estimated_cost"}.
    """

    def label(self, items, categories: list, **params) -> dict:
        """Classify items against `categories` (`multi_label`, `include_rationale`, ...)."""
        return self._call("label", items, {"categories": categories, **params})

    def summarize(self, items, **params) -> dict:
        """Summarize items (`summary_instructions`, `response_format`, ...)."""
        return self._call("summarize", items, params)

    def extract(self, items, **params) -> dict:
        """Extract fields from items (`extraction_instructions` is required)."""
        return self._call("extract", items, params)

    def enrich(self, items, **params) -> dict:
        """Add typed `fields` to items."""
        return self._call("enrich", items, params)

    def run(self, items, **params) -> dict:
        """Any `system_prompt` + `user_prompt_template` + `response_format`."""
        return self._call("run", items, params)

    def _call(self, operation: str, items, params: dict) -> dict:
        """`items`: a list of dicts or strings, or a DataFrame (whose columns `COLUMN_OPTIONS` choose)."""
        if is_path(items):
            raise InvalidRequest("sync operations take a list of items (dicts or strings) or a DataFrame; "
                                 "a single string is read as a file path, which is for submit()", field="items")
        columns = {name: params.pop(name) for name in COLUMN_OPTIONS if name in params}
        return self._sync(operation, item_dicts(items, **columns), params)

    def _sync(self, operation: str, items: list[dict], params: dict) -> dict:
        raise NotImplementedError


class BatchHandle:
    """A submitted batch. Subclasses provide `status`, `cancel`, `records` and `export`."""

    poll_seconds = 0.5

    def __init__(self, batch_id: str):
        self.id = batch_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    def status(self) -> dict:
        """The batch's status and progress (as GET /api/batches/{id} returns it)."""
        raise NotImplementedError

    def cancel(self) -> dict:
        """Cancel the batch; completed work is kept. Returns the status."""
        raise NotImplementedError

    def records(self) -> Iterator[dict]:
        """Output records in item order: index, id, status, result, error, ..."""
        raise NotImplementedError

    def export(self, fmt: str, include_input: bool = True) -> Iterator[bytes]:
        """Every item's record in `fmt` (csv, jsonl, json or parquet), as chunks of bytes.

        With `include_input`, a batch made from rows gives its input columns back too.
        """
        raise NotImplementedError

    def updates(self, deadline: float | None) -> Iterator[dict]:
        """Successive statuses until the deadline (polling; a backend may push instead)."""
        while True:
            yield self.status()
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(self.poll_seconds)

    def wait(self, progress: bool = True, timeout: float | None = None) -> dict:
        """Block until the batch is completed, failed or cancelled; return its final status.

        With `progress`, a bar with items/s and ETA is drawn on stderr.
        Raises `TimeoutError` if the batch is still running after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        status: dict = {}
        try:
            for status in self.updates(deadline):
                if progress:
                    bar = bar or ProgressBar(status["total_items"], label=self.id)
                    bar.update(_finished(status), status["total_items"])
                if status["status"] in FINISHED_STATES:
                    return status
        finally:
            if bar is not None:
                bar.close()
        raise TimeoutError(f"batch {self.id} is still {status.get('status')} after {timeout:g}s")

    def results(self) -> pl.DataFrame:
        """One row per item, in order: index, id, status, result fields, error_type, error_message."""
        return results_frame(self.records())

    def to_file(self, path: str | os.PathLike, include_input: bool = True) -> Path:
        """Write every item's record to `path`, in the format its extension names (.csv, .jsonl, .json, .parquet).

        With `include_input` (the default), a batch made from rows (a file, a DataFrame)
        has its input columns beside the results; False gives index, id, status, result, error.
        """
        path = Path(path)
        fmt = file_format(path)
        with open(path, "wb") as handle:
            for chunk in self.export(fmt, include_input):
                handle.write(chunk)
        return path


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


def _finished(status: dict) -> int:
    return status["completed_items"] + status["failed_items"] + status["cancelled_items"]
