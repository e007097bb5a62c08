"""Which input columns become an item's content, id and metadata."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InvalidRequest

# Error messages list at most this many column names (a file may have thousands).
_SHOWN_COLUMNS = 20


@dataclass(frozen=True)
class Columns:
    """The chosen columns; `metadata` None means "every column but content and id"."""

    content: str
    id: str | None
    metadata: list[str] | None


def describe_columns(names: list[str]) -> str:
    """The names for an error message, shortened when there are many."""
    if not names:
        return "(none)"
    shown = ", ".join(names[:_SHOWN_COLUMNS])
    more = len(names) - _SHOWN_COLUMNS
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def no_items(found: list[str]) -> InvalidRequest:
    """The error for a file without a single item."""
    where = f" (columns found: {describe_columns(found)})" if found else ""
    return InvalidRequest(f"file has no items{where}", field="file")


def choose_columns(found: list[str], text_columns: list[str], content_column: str | None = None,
                   id_column: str | None = None, metadata_columns: list[str] | None = None) -> Columns:
    """Apply the content/id/metadata rules to the columns found in the file.

    content: `content_column` if given; else a column named "content"; else the
    only text column. id: `id_column` if given, else a column named "id" (as
    for a DataFrame in the driver). metadata: `metadata_columns` if given, else
    all the other columns.
    """
    present = set(found)
    if id_column is None and "id" in present and content_column != "id":
        id_column = "id"
        text_columns = [name for name in text_columns if name != "id"]
    if content_column is not None:
        _require(content_column, present, found, "content_column")
        content = content_column
    elif "content" in present:
        content = "content"
    elif len(text_columns) == 1:
        content = text_columns[0]
    else:
        raise InvalidRequest(f"ambiguous: pass content_column; columns found: {describe_columns(found)}",
                             field="content_column")
    if id_column is not None:
        _require(id_column, present, found, "id_column")
    if metadata_columns is not None:
        for name in metadata_columns:
            _require(name, present, found, "metadata_columns")
    return Columns(content, id_column, None if metadata_columns is None else list(metadata_columns))


def other_columns(found: list[str], columns: Columns) -> list[str]:
    """The metadata columns of a table whose columns are all known up front."""
    if columns.metadata is not None:
        return columns.metadata
    return [name for name in found if name not in (columns.content, columns.id)]


def _require(name: str, present: set[str], found: list[str], field: str) -> None:
    if name not in present:
        raise InvalidRequest(f"{field}: column {name!r} not found; columns found: {describe_columns(found)}",
                             field=field)
