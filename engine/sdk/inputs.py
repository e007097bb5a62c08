"""Items in: a list of dicts or strings, or a Polars DataFrame, validated as the HTTP API would.

`input_frame` makes the store's input frame of a DataFrame, `item_dicts` the
API's item objects of any of them. A DataFrame's columns are chosen, and
guarded, by the loaders' rules for a file (`loaders.dataframe_items`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import polars as pl
from pydantic import TypeAdapter, ValidationError

from engine.errors import InvalidRequest, PayloadTooLarge, invalid_request_of
from engine.models import MAX_BATCH_ITEMS, MAX_CONTENT_CHARS, Item
from loaders import dataframe_items

COLUMN_OPTIONS = ("content_column", "id_column", "metadata_columns")  # which DataFrame or file columns are what
LOADER_OPTIONS = ("format", *COLUMN_OPTIONS)
MAX_ID_CHARS = next(m.max_length for m in Item.model_fields["id"].metadata if hasattr(m, "max_length"))
_ITEMS = TypeAdapter(list[Item])


def is_path(items: Any) -> bool:
    """A single string or path names a file; a list of strings is a list of items."""
    return isinstance(items, (str, os.PathLike))


def check_count(count: int, limit: int = MAX_BATCH_ITEMS, hint: str = "") -> None:
    """No items is a 422 and more than `limit` a 413, as the HTTP API answers."""
    if count == 0:
        raise InvalidRequest("there are no items", field="items")
    if count > limit:
        raise PayloadTooLarge(f"{count} items: at most {limit} per request{hint}", field="items")


def input_frame(data: pl.DataFrame, content_column: str | None = None, id_column: str | None = None,
                metadata_columns: list[str] | None = None) -> pl.DataFrame:
    """A DataFrame as input rows: content, id, metadata (JSON text of the other columns)."""
    frame = dataframe_items(data, content_column, id_column, metadata_columns)
    check_count(frame.height)
    _reject_first(frame, pl.col("content").is_null(), "content", "is missing (null)")
    _reject_first(frame, pl.col("content").str.len_chars() > MAX_CONTENT_CHARS, "content",
                  f"is longer than {MAX_CONTENT_CHARS} characters")
    _reject_first(frame, pl.col("id").str.len_chars() > MAX_ID_CHARS, "id",
                  f"is longer than {MAX_ID_CHARS} characters")
    return frame


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
        raise invalid_request_of(exc, "items.") from None


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
