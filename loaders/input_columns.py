"""The input's own columns, recorded when a batch is made so its output can give them back.

An item frame holds content, id and metadata (a JSON object text of the other
columns). To restore the rows, a batch keeps, per input column in the input's
order, a dict {"name", "role", "type"}:

- role: "content", "id" or "metadata" (a key of the metadata object);
- type: "string", "int", "float", "bool", or "json" (any other value, given back
  as its JSON text);
- key (metadata only, when it is not the name): the metadata key it is read from.

`ItemFrames` carries that list beside the frames it yields.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import polars as pl

COLUMN_TYPES = ("string", "int", "float", "bool", "json")
_SCALARS = {str: "string", int: "int", float: "float", bool: "bool"}


class ItemFrames:
    """Item frames, and the input columns they came from (known once the first frame is yielded)."""

    def __init__(self, frames: Iterable[pl.DataFrame] = (), input_columns: list[dict] | None = None):
        self._frames = iter(frames)
        self.input_columns = input_columns

    @classmethod
    def reading(cls, read: Callable[[Callable[[list[dict]], None]], Iterable[pl.DataFrame]]) -> "ItemFrames":
        """The frames of `read(record)`, a reader that calls `record(input_columns)` before its first frame."""
        items = cls()
        items._frames = iter(read(items._record))
        return items

    def _record(self, input_columns: list[dict]) -> None:
        self.input_columns = input_columns

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self

    def __next__(self) -> pl.DataFrame:
        return next(self._frames)

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


def type_of_dtype(dtype: pl.DataType) -> str:
    """A column's type tag from its Polars dtype (as json_encode writes it into the metadata)."""
    if dtype == pl.String or dtype == pl.Categorical or isinstance(dtype, pl.Enum):
        return "string"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "json"


def type_of_values(values: Iterable[Any]) -> str:
    """A column's type tag from JSON values: their one scalar type (ints among floats: float), else json."""
    kinds = {_SCALARS.get(type(value), "json") for value in values if value is not None}
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else ("string" if not kinds else "json")


def columns_of_schema(found: list[str], schema: dict, content: str, id_: str | None,
                      metadata: list[str]) -> list[dict]:
    """The kept columns of a table whose dtypes are known, in the table's order."""
    roles = {content: "content", **({id_: "id"} if id_ else {}), **dict.fromkeys(metadata, "metadata")}
    return [{"name": name, "role": roles[name], "type": type_of_dtype(schema[name])}
            for name in found if name in roles]


def columns_of_rows(found: list[str], rows: list[dict], content: str, id_: str | None,
                    metadata: list[str] | None) -> list[dict]:
    """The kept columns of JSON rows (each row may lack some keys), typed from the rows' values."""
    kept = [name for name in found if name in (content, id_) or metadata is None or name in metadata]
    roles = {content: "content", **({id_: "id"} if id_ else {})}
    return [{"name": name, "role": roles.get(name, "metadata"),
             "type": type_of_values(row.get(name) for row in rows)} for name in kept]
