"""A streaming multipart/form-data reader: the file part goes to its sink as it arrives.

Starlette's `request.form()` spools a file part into a SpooledTemporaryFile,
which the upload route then had to copy to a named file: two passes over
100 MB. Here the body is fed chunk by chunk; the file part's bytes are handed
to a sink (the route's destination file) at once, the text fields are kept in
memory within their limits. The boundary is found with `bytes.find`, so the
cost per byte is that of a memchr and a copy.

Malformed framing is a BadRequest (400), an oversize field a PayloadTooLarge
(413), a field that is not UTF-8 an InvalidRequest (422).
"""

from __future__ import annotations

from typing import Callable

from python_multipart.multipart import parse_options_header

from engine.errors import BadRequest, InvalidRequest, PayloadTooLarge

MAX_HEADER_BYTES = 16 * 1024  # the headers of one part
MAX_PREAMBLE_BYTES = 64 * 1024  # bytes allowed before the first boundary

Sink = Callable[[memoryview], None]


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type; InvalidRequest if it is not one."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not 0 < len(boundary) <= 200:
        raise InvalidRequest("send the file as multipart/form-data with a 'file' field", field="file")
    return boundary


class FormReader:
    """Feed a multipart body with `feed(chunk)`, then call `finish()`.

    The part named `file_field` that has a filename goes to `open_file(filename,
    content_type)` (its Content-Type header, or None), a sink called with each
    piece of its bytes; other file parts are skipped.
    Text fields end up in `fields`, as (name, value) in body order.
    """

    def __init__(self, boundary: bytes, open_file: Callable[[str, str | None], Sink], *, file_field: str = "file",
                 max_fields: int = 100, max_field_bytes: int = 1024 * 1024):
        # Every boundary but the first follows a CRLF; start with one so that the first does too.
        self._buffer = b"\r\n"
        self._delimiter = b"\r\n--" + boundary
        self._state = "preamble"
        self._open_file = open_file
        self._file_field = file_field
        self._max_fields = max_fields
        self._max_field_bytes = max_field_bytes
        self._sink: Sink | None = None  # where the current part's bytes go
        self._field: tuple[str, list[bytes]] | None = None  # the text field being read
        self._field_bytes = 0
        self.fields: list[tuple[str, str]] = []
        self.filename: str | None = None  # the file part's filename, once it began

    def feed(self, chunk: bytes) -> None:
        self._buffer = self._buffer + chunk if self._buffer else chunk
        progress = True
        while progress and self._state != "end":
            progress = getattr(self, f"_{self._state}")()

    def finish(self) -> None:
        if self._state != "end":
            raise BadRequest("the multipart body ended before its closing boundary", field="body")

    # Each state consumes what it can of the buffer and says whether it moved on.

    def _preamble(self) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            if len(self._buffer) > MAX_PREAMBLE_BYTES:
                raise BadRequest("the multipart body does not start with its boundary", field="body")
            return False
        self._buffer = self._buffer[at + len(self._delimiter):]
        self._state = "after_boundary"
        return True

    def _after_boundary(self) -> bool:
        if len(self._buffer) < 2:
            return False
        ending, self._buffer = self._buffer[:2], self._buffer[2:]
        if ending == b"--":
            self._state = "end"  # what follows the closing boundary (the epilogue) is ignored
        elif ending == b"\r\n":
            self._state = "headers"
        else:
            raise BadRequest("malformed multipart body: a boundary is followed by neither CRLF nor '--'",
                             field="body")
        return True

    def _headers(self) -> bool:
        if self._buffer.startswith(b"\r\n"):  # a blank line at once: a part without headers
            self._begin_part(b"")
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise BadRequest("malformed multipart body: a part's headers are too long", field="body")
            return False
        self._begin_part(self._buffer[:end])
        self._buffer = self._buffer[end + 4:]
        self._state = "data"
        return True

    def _data(self) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            # Keep what could be the start of a delimiter split across chunks.
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                self._write(memoryview(self._buffer)[:-keep])  # a view, not a copy of the bulk
                self._buffer = self._buffer[-keep:]
            return False
        self._write(memoryview(self._buffer)[:at])
        self._buffer = self._buffer[at + len(self._delimiter):]
        self._end_part()
        self._state = "after_boundary"
        return True

    # ---- parts ---------------------------------------------------------------

    def _begin_part(self, raw_headers: bytes) -> None:
        disposition, content_type = b"", None
        for line in raw_headers.split(b"\r\n") if raw_headers else []:
            name, colon, value = line.partition(b":")
            if not colon:
                raise BadRequest("malformed multipart body: a part header has no ':'", field="body")
            if name.strip().lower() == b"content-disposition":
                disposition = value.strip()
            elif name.strip().lower() == b"content-type":
                content_type = value.strip().decode("latin-1")
        kind, options = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in options:
            raise BadRequest("malformed multipart body: a part has no Content-Disposition form-data name",
                             field="body")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.fields) >= self._max_fields:
                raise BadRequest(f"the form has more than {self._max_fields} fields", field="body")
            self._field, self._field_bytes = (name, []), 0
            self._sink = self._add_to_field
        elif name == self._file_field:
            if self.filename is not None:
                raise InvalidRequest(f"the form has more than one {self._file_field!r} part", field=self._file_field)
            self.filename = options[b"filename"].decode("utf-8", "replace")
            self._sink = self._open_file(self.filename, content_type)
        else:
            self._sink = None  # a file under another name: not ours to read

    def _write(self, data: memoryview) -> None:
        if data and self._sink is not None:
            self._sink(data)

    def _add_to_field(self, data: memoryview) -> None:
        name, pieces = self._field
        self._field_bytes += len(data)
        if self._field_bytes > self._max_field_bytes:
            raise PayloadTooLarge(f"form field {name!r} is larger than {self._max_field_bytes:,} bytes", field=name)
        pieces.append(bytes(data))

    def _end_part(self) -> None:
        if self._field is not None:
            name, pieces = self._field
            try:
                self.fields.append((name, b"".join(pieces).decode("utf-8")))
            except UnicodeDecodeError:
                raise InvalidRequest(f"form field {name!r} is not UTF-8 text", field=name) from None
        self._field, self._sink = None, None
