"""Files in, items out: `read_items` streams a file as item frames.

Errors are InvalidRequest (422) or PayloadTooLarge (413). Reading streams, so an
error late in a file is raised after earlier chunks were yielded: a consumer
that stores chunks as they come must discard them when the iteration raises.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import BinaryIO, Callable, Iterator

import polars as pl

from engine.errors import InvalidRequest, PayloadTooLarge
from loaders.columns import choose_columns, no_items, other_columns
from loaders.frames import rechunk
from loaders.input_columns import ItemFrames, columns_of_rows, columns_of_schema
from loaders.items import Table, frame_to_items, rows_to_items
from loaders.records import read_json, read_jsonl, read_txt
from loaders.source import Source, detect_format, open_source
from loaders.tabular import read_csv, read_parquet

_READERS: dict[str, Callable[[BinaryIO, int], Table]] = {
    "csv": lambda stream, chunk_rows: read_csv(stream, ","),
    "tsv": lambda stream, chunk_rows: read_csv(stream, "\t"),
    "parquet": read_parquet,
    "json": read_json,
    "jsonl": read_jsonl,
    "txt": read_txt,
}


def read_items(source: Source, format: str | None = None, *, content_column: str | None = None,
               id_column: str | None = None, metadata_columns: list[str] | None = None,
               max_items: int = 1_000_000, chunk_rows: int = 50_000) -> ItemFrames:
    """Stream a file of items as DataFrames of at most `chunk_rows` rows, in file order.

    `source` is a path or the file's bytes; `format` one of csv, tsv, json, jsonl,
    txt, parquet (None: from the file extension, else sniffed). Each frame has
    the columns content (String), id (String or null) and metadata (a JSON
    object text of the row's other columns, or null). Its `input_columns` (see
    loaders.input_columns) are known once the first frame has been read.

    Content is `content_column`, else the column named "content", else the only
    text column. Raises InvalidRequest for a malformed file, a missing column or
    an empty content; PayloadTooLarge as soon as there are more than `max_items`.
    The format is checked now; the file is read as the frames are consumed.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    fmt = detect_format(source, format)
    wanted = {"content_column": content_column, "id_column": id_column, "metadata_columns": metadata_columns}
    return ItemFrames.reading(lambda record: rechunk(_read(source, fmt, wanted, max_items, chunk_rows, record),
                                                     chunk_rows))


def read_items_list(source: Source, format: str | None = None, **options) -> list[dict]:
    """All items as [{"content", "id"?, "metadata"?}] dicts (metadata parsed): for small inputs."""
    items = []
    for frame in read_items(source, format, **options):
        for content, id_, metadata in frame.select("content", "id", "metadata").iter_rows():
            item = {"content": content}
            if id_ is not None:
                item["id"] = id_
            if metadata is not None:
                item["metadata"] = json.loads(metadata)
            items.append(item)
    return items


def _read(source: Source, fmt: str, wanted: dict, max_items: int, chunk_rows: int,
          record: Callable[[list[dict]], None]) -> Iterator[pl.DataFrame]:
    with open_source(source) as stream:
        table = _READERS[fmt](stream, chunk_rows)
        try:
            yield from _items(table, [] if fmt == "txt" else table.columns, wanted, max_items, record)
        finally:
            # Stop the reader (pyarrow reads ahead on its own threads) before its file closes.
            close = getattr(table.chunks, "close", None)
            if close is not None:
                close()


def _items(table: Table, found: list[str], wanted: dict, max_items: int,
           record: Callable[[list[dict]], None]) -> Iterator[pl.DataFrame]:
    chunks = (chunk for chunk in table.chunks if len(chunk))
    first = next(chunks, None)
    if first is None:  # before choosing columns: "no items" says more than "ambiguous"
        raise no_items(found)
    columns = choose_columns(table.columns, table.text_columns, **wanted)
    tabular = isinstance(first, pl.DataFrame)
    to_items = frame_to_items if tabular else rows_to_items
    if tabular:
        record(columns_of_schema(table.columns, first.schema, columns.content, columns.id,
                                 other_columns(table.columns, columns)))
    else:
        record(columns_of_rows(table.columns, first, columns.content, columns.id, columns.metadata))
    done = 0
    for chunk in chain([first], chunks):
        if done + len(chunk) > max_items:
            raise PayloadTooLarge(f"the file has more than {max_items:,} items; the limit is {max_items:,}",
                                  field="file")
        items = to_items(chunk, columns)
        _check_content(items, done, columns.content)
        done += items.height
        yield items


def _check_content(items: pl.DataFrame, done: int, column: str) -> None:
    """Reject the first row whose content is null or empty; rows are numbered from 1 across chunks."""
    empty = items.get_column("content").fill_null("").str.len_bytes() == 0
    if empty.any():
        row = done + empty.arg_true()[0] + 1
        raise InvalidRequest(f"row {row}: content (column {column!r}) is empty", field="file")
