"""Raw chunks (a DataFrame of the file's columns, or a list of JSON rows) to item frames.

An item frame has exactly the columns content (String), id (String, nullable)
and metadata (String: a JSON object text, or null).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

import polars as pl

from engine.errors import InvalidRequest
from loaders.columns import Columns, choose_columns, other_columns
from loaders.input_columns import columns_of_schema

ITEM_SCHEMA = {"content": pl.String, "id": pl.String, "metadata": pl.String}

# Not text, so not an item's content or id: nested values, and bytes (base64 would be no text to a model).
_NOT_TEXT = (pl.List, pl.Array, pl.Struct, pl.Binary)
# Compact and unescaped, like polars' json_encode for tabular files. One shared
# encoder: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass
class Table:
    """A file as read: its column names, which of them hold text, and its chunks.

    `chunks` yields DataFrames (csv, tsv, parquet) or lists of dict rows (json,
    jsonl, txt), in file order.
    """

    columns: list[str]
    text_columns: list[str]
    chunks: Iterator[Any]


def frame_to_items(frame: pl.DataFrame, columns: Columns) -> pl.DataFrame:
    """The item frame of a chunk of a tabular file, or of a DataFrame (every column known from the schema)."""
    metadata = other_columns(frame.columns, columns)
    content = _as_text(frame, columns.content, "content_column")
    id_ = _as_text(frame, columns.id, "id_column") if columns.id else pl.lit(None, pl.String)
    # json_encode panics on Binary ("not yet implemented"), so binary metadata goes in as base64 text.
    frame = frame.with_columns(pl.col(pl.Binary).bin.encode("base64"))
    return frame.select(
        content=content,
        id=id_,
        metadata=pl.struct(metadata).struct.json_encode() if metadata else pl.lit(None, pl.String),
    )


def _as_text(frame: pl.DataFrame, name: str, field: str) -> pl.Expr:
    dtype = frame.schema[name]
    if isinstance(dtype, _NOT_TEXT):
        raise InvalidRequest(f"{field}: column {name!r} holds {dtype}, not text", field=field)
    return pl.col(name).cast(pl.String)


def dataframe_items(data: pl.DataFrame, content_column: str | None = None, id_column: str | None = None,
                    metadata_columns: list[str] | None = None) -> pl.DataFrame:
    """A DataFrame in memory as an item frame: the columns chosen, and guarded, as a file's are."""
    return frame_to_items(data, _dataframe_columns(data, content_column, id_column, metadata_columns))


def dataframe_input_columns(data: pl.DataFrame, content_column: str | None = None, id_column: str | None = None,
                            metadata_columns: list[str] | None = None) -> list[dict]:
    """The columns `dataframe_items` keeps, named and typed, so that the batch's output gives them back."""
    columns = _dataframe_columns(data, content_column, id_column, metadata_columns)
    return columns_of_schema(data.columns, dict(data.schema), columns.content, columns.id,
                             other_columns(data.columns, columns))


def _dataframe_columns(data: pl.DataFrame, content_column: str | None, id_column: str | None,
                       metadata_columns: list[str] | None) -> Columns:
    text_columns = [name for name, dtype in data.schema.items() if dtype == pl.String]
    return choose_columns(data.columns, text_columns, content_column, id_column, metadata_columns)


def rows_to_items(rows: list[dict], columns: Columns) -> pl.DataFrame:
    """The item frame of a chunk of JSON rows (each row may have its own keys)."""
    contents, ids, metadata = [], [], []
    for row in rows:
        contents.append(_text(row.get(columns.content)))
        ids.append(_text(row.get(columns.id)) if columns.id else None)
        metadata.append(_metadata(row, columns))
    return pl.DataFrame({"content": contents, "id": ids, "metadata": metadata}, schema=ITEM_SCHEMA)


def _text(value: Any) -> str | None:
    """Strings as they are; other JSON values (numbers, booleans, nested) as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return _ENCODER.encode(value)


def _metadata(row: dict, columns: Columns) -> str | None:
    if columns.metadata is None:
        picked = {k: v for k, v in row.items() if k != columns.content and k != columns.id}
    else:
        picked = {k: row[k] for k in columns.metadata if k in row}
    return _ENCODER.encode(picked) if picked else None


def text_keys(rows: list[dict]) -> tuple[list[str], list[str]]:
    """(every key in first-seen order, the keys whose non-null values are all strings)."""
    keys: dict[str, None] = {}  # an ordered set
    text, other = set(), set()
    for row in rows:
        for key, value in row.items():
            keys[key] = None
            if isinstance(value, str):
                text.add(key)
            elif value is not None:
                other.add(key)
    # A key that is always null is not a text column: it would make every file ambiguous.
    return list(keys), [key for key in keys if key in text and key not in other]
