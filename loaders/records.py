"""JSON, JSONL and plain-text files as Tables of dict-row chunks.

A string item stands for {"content": <the string>}, so every row is a dict.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, BinaryIO, Iterable, Iterator

from engine.errors import InvalidRequest
from loaders.columns import describe_columns, no_items
from loaders.items import Table, text_keys


def read_json(stream: BinaryIO, chunk_rows: int) -> Table:
    """A JSON array of objects or strings, or {"items": [...]}; parsed whole (use JSONL for big files)."""
    text = _decode(stream.read())
    if not text.strip():
        raise no_items([])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "; if it has one JSON value per line, pass format=jsonl" if exc.msg == "Extra data" else ""
        raise InvalidRequest(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{hint}",
                             field="file") from None
    rows = [_row(item, f"item {number}") for number, item in enumerate(_items_of(value), 1)]
    columns, text_columns = text_keys(rows)
    return Table(columns, text_columns, _chunked(rows, chunk_rows))


def read_jsonl(stream: BinaryIO, chunk_rows: int) -> Table:
    """One JSON object (or string) per non-blank line; the first chunk's keys are the columns."""
    chunks = _chunked(_jsonl_rows(stream), chunk_rows)
    first = next(chunks, [])
    columns, text_columns = text_keys(first)
    return Table(columns, text_columns, itertools.chain([first], chunks))


def read_txt(stream: BinaryIO, chunk_rows: int) -> Table:
    """One item per line; blank lines are skipped, other whitespace is kept."""
    rows = ({"content": line} for _, line in _lines(stream) if line.strip())
    return Table(["content"], ["content"], _chunked(rows, chunk_rows))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidRequest(f"file is not UTF-8 text: invalid byte at offset {exc.start} (line {line})",
                             field="file") from None


def _items_of(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "items" in value:
        if isinstance(value["items"], list):
            return value["items"]
        raise InvalidRequest(f'"items" is {_kind(value["items"])}; expected an array of items', field="file")
    found = f"an object with keys: {describe_columns(list(value))}" if isinstance(value, dict) else _kind(value)
    raise InvalidRequest(f'expected a JSON array of items or an object with an "items" array; found {found}',
                         field="file")


def _row(item: Any, where: str) -> dict:
    if isinstance(item, dict):
        return item
    if isinstance(item, str):
        return {"content": item}
    raise InvalidRequest(f"{where} is {_kind(item)}; items must be objects or strings", field="file")


def _kind(value: Any) -> str:
    """The JSON name of a value's type, with its article."""
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((dict, "an object"), (list, "an array"), (str, "a string"), ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return "null"


def _jsonl_rows(stream: BinaryIO) -> Iterator[dict]:
    for number, line in _lines(stream):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"line {number} is not valid JSON: {exc.msg} (column {exc.colno})",
                                 field="file") from None
        yield _row(value, f"line {number}")


def _lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without its line end), decoding line by line to place bad bytes."""
    offset = 0
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"file is not UTF-8 text: invalid byte at offset {offset + exc.start} "
                                 f"(line {number})", field="file") from None
        offset += len(raw)
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield number, text.removesuffix("\n").removesuffix("\r")


def _chunked(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
