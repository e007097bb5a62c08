"""Where the bytes come from (a path or bytes) and which format they are in."""

from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Union

from engine.errors import InvalidRequest

# A str is always a path, never the file's text.
Source = Union[str, os.PathLike, bytes, bytearray, memoryview]

FORMATS = ("csv", "tsv", "json", "jsonl", "txt", "parquet")
_ALIASES = {"ndjson": "jsonl"}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".txt": "txt", ".parquet": "parquet"}
# An upload's part Content-Type, for a file whose name has none of the extensions above.
_CONTENT_TYPES = {"text/csv": "csv", "application/csv": "csv", "text/tab-separated-values": "tsv",
                  "application/json": "json", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                  "application/x-jsonlines": "jsonl", "application/jsonlines": "jsonl", "text/plain": "txt",
                  "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet"}
# Enough to hold the first line of any sane JSONL file; more is not read while sniffing.
_SNIFF_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


@contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """A seekable binary stream over a path or bytes.

    A missing or unreadable path raises OSError: for the HTTP endpoint that is
    the server's own temporary file, so not the caller's mistake.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
        return
    with open(source, "rb") as stream:
        yield stream


def upload_suffix(filename: str, content_type: str | None) -> str:
    """The extension to store an upload under: its own if it names a format, else its content type's.

    So the format is found by the `format` field, else the extension, else the content type, else a sniff.
    """
    own = Path(filename).suffix.lower()[:10]
    by_type = _CONTENT_TYPES.get((content_type or "").split(";", 1)[0].strip().lower())
    return f".{by_type}" if own not in _EXTENSIONS and by_type else own


def detect_format(source: Source, format: str | None) -> str:
    """The format to read: the one given, else the file extension's, else a sniff of the first bytes."""
    if format is not None:
        name = _ALIASES.get(format.strip().lower(), format.strip().lower())
        if name not in FORMATS:
            raise InvalidRequest(f"format {format!r} is not supported; use one of: {', '.join(FORMATS)}",
                                 field="format")
        return name
    if not isinstance(source, (bytes, bytearray, memoryview)):
        by_extension = _EXTENSIONS.get(Path(source).suffix.lower())
        if by_extension:
            return by_extension
    with open_source(source) as stream:
        return sniff(stream.read(_SNIFF_BYTES))


def sniff(head: bytes) -> str:
    """Guess the format from the first bytes of a file."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in head:  # text files have no NUL bytes; spreadsheets, archives and UTF-16 text do
        raise InvalidRequest(f"the file is binary (it has NUL bytes) and not Parquet: send one of "
                             f"{', '.join(FORMATS)} (text in UTF-8)", field="file")
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return _json_or_jsonl(text)
    first_line = head.split(b"\n", 1)[0]
    return "csv" if b"," in first_line else "txt"


def _json_or_jsonl(text: bytes) -> str:
    """JSONL when the first line is a whole object on its own, unless it is an {"items": [...]} document."""
    first_line = text.split(b"\n", 1)[0]
    try:
        value = json.loads(first_line)
    except ValueError:  # an object spread over lines (pretty-printed), or cut off by the sniff limit
        return "json"
    is_items_document = isinstance(value, dict) and isinstance(value.get("items"), list) and len(value) == 1
    return "json" if is_items_document else "jsonl"
