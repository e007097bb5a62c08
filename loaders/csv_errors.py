"""Say where a CSV file is broken: its parsers fail without naming the line.

Only runs after a failure, so a second pass over the file costs nothing on
the happy path.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from engine.errors import InvalidRequest

# Python's csv module refuses fields over 128 KiB by default; content can be longer.
_FIELD_LIMIT = 1 << 30


def explain_csv_error(stream: BinaryIO, separator: str, width: int | None, reason: str) -> InvalidRequest:
    """The 422 for a CSV that failed to parse: bad UTF-8, else a ragged row, else the parser's `reason`.

    `width` is the header's number of fields (None while reading the header).
    """
    bad_byte = first_non_utf8(stream)
    if bad_byte is not None:
        offset, line = bad_byte
        return InvalidRequest(f"file is not UTF-8 text: invalid byte at offset {offset} (line {line})",
                              field="file")
    if width is not None:
        ragged = first_ragged_row(stream, separator, width)
        if ragged is not None:
            line, count = ragged
            return InvalidRequest(f"CSV line {line} has {count} fields but the header has {width}; "
                                  "check the separator and the quotes", field="file")
    return InvalidRequest(f"could not read the file as CSV: {reason}", field="file")


def first_non_utf8(stream: BinaryIO) -> tuple[int, int] | None:
    """(byte offset, 1-based line) of the first byte that is not UTF-8, or None."""
    stream.seek(0)
    offset = 0
    # Line by line is exact: b"\n" never occurs inside a multi-byte UTF-8 sequence.
    for number, line in enumerate(stream, 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return offset + exc.start, number
        offset += len(line)
    return None


def first_ragged_row(stream: BinaryIO, separator: str, width: int) -> tuple[int, int] | None:
    """(1-based line where the row starts, its number of fields) of the first row not `width` wide."""
    stream.seek(0)
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text, delimiter=separator)
        start = 1
        for row in reader:
            if row and len(row) != width:  # [] is a blank line, which the readers skip
                return start, len(row)
            start = reader.line_num + 1
    except csv.Error:
        return None
    finally:
        text.detach()
    return None

