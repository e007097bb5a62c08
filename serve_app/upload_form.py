"""The form of POST /api/files: read as it streams in, then parsed once.

`UploadForm.feed` takes the body chunk by chunk: the file part goes straight to
a temporary file (serve_app.upload_target), the text fields stay in memory
within their limits (serve_app.multipart). `finish` then parses the fields,
wherever they came in the body (before or after the file), into an `Upload`;
the loaders read the file once, from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InvalidRequest
from engine.models import (
    CONTROL_FIELDS,
    PARAMS,
    BatchControls,
    OperationParams,
    operation_of,
)
from serve_app.multipart import FormReader, boundary_of
from serve_app.upload_target import UploadTarget

FORM_FIELD_LIMIT = 1024 * 1024
MAX_FORM_FIELDS = 100
JSON_FIELDS = ("fields", "runtime_categories", "response_format", "categories", "cascade")
LIST_FIELDS = ("categories", "metadata_columns")
BOOL_FIELDS = ("multi_label", "include_context", "include_rationale", "dry_run", "cache")
COLUMN_FIELDS = ("content_column", "id_column", "metadata_columns")


@dataclass(frozen=True)
class Upload:
    """A whole upload: its file, what the loaders need to read it, and the batch's fields."""

    path: Path
    format: str | None
    columns: dict[str, Any]  # content_column, id_column, metadata_columns: those the form gave
    operation: str
    params: OperationParams
    controls: BatchControls
    key_body: bytes  # what an Idempotency-Key must find the same on a repeat: the fields and the file's hash


class UploadForm:
    """One upload's multipart body, fed as it arrives; call `remove()` when done with it.

    The file's hash (for the Idempotency-Key) is computed only `with_digest`.
    """

    def __init__(self, content_type: str, directory: Path, max_file_bytes: int, with_digest: bool):
        self._target = UploadTarget(directory, max_file_bytes, with_digest)
        self._reader = FormReader(boundary_of(content_type), self._target.open, max_fields=MAX_FORM_FIELDS,
                                  max_field_bytes=FORM_FIELD_LIMIT)

    def feed(self, chunk: bytes) -> None:
        self._reader.feed(chunk)

    def finish(self) -> Upload:
        """The upload, once the body is whole: a missing file first, then the fields, are 4xx errors."""
        self._reader.finish()
        self._target.close()
        if self._target.path is None:
            raise InvalidRequest("the form has no 'file' part", field="file")
        operation, params, loader, controls = parse_form_fields(self._reader.fields)
        fmt = loader.pop("format", None)
        key_body = json.dumps([operation, params.model_dump(mode="json"), loader, self._target.digest]).encode()
        return Upload(self._target.path, fmt, loader, operation, params, controls, key_body)

    def remove(self) -> None:
        """Delete the temporary file (the batch's input is in the store by now)."""
        self._target.remove()


def parse_form_fields(pairs: list[tuple[str, str]]) -> tuple[str, OperationParams, dict, BatchControls]:
    """(operation, its params, loader options, batch controls) from the form's text fields."""
    # An HTML form posts its unused inputs as empty strings: those mean "not given".
    fields = {k: v for k, v in pairs if v.strip()}
    operation = operation_of(fields.pop("operation", None))
    values = {name: _parse_value(name, raw) for name, raw in fields.items()}
    loader = {name: values.pop(name) for name in ("format", *COLUMN_FIELDS) if name in values}
    controls = BatchControls.model_validate({name: values.pop(name) for name in CONTROL_FIELDS if name in values})
    params = PARAMS[operation].model_validate(values)
    return operation, params, loader, controls


def _parse_value(name: str, raw: str) -> Any:
    text = raw.strip()
    if name in BOOL_FIELDS:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidRequest(f"{name} must be true or false, got {raw!r}", field=name)
        return text.lower() in ("true", "1", "yes")
    if name in JSON_FIELDS and text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidRequest(f"{name} is not valid JSON: {exc}", field=name) from None
    if name in LIST_FIELDS:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text
