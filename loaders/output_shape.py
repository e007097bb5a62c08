"""The columns of a batch's output, and stored output rows turned into them (pure Polars).

A stored output row (what `BatchStore.iter_output_frames` yields) has index, id,
content, metadata, status, result (JSON text), error_type, error_message,
attempts, cached, provider. `OutputShape.flat` turns a frame of them into typed columns:

    with input:     <input columns...>, <result fields...>, status, error_type, error_message,
                    index, attempts, cached, provider
    without input:  index, id, status, <result fields...>, error_type, error_message, attempts, cached, provider

The result fields come from the operation, not from the results, so completed
and failed rows, and a field no item produced, always have the same columns. A
name that an earlier column already holds gets a prefix (`result_` for a result
field, `_` for the others): the input's own columns keep theirs.

Nothing is built per row: every column is one expression over the frame, and
the metadata's and the result's JSON are each parsed once per frame for all
their scalar columns (`decoded`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Type tags of input columns (loaders.input_columns) and result fields.
DTYPES = {
    "string": pl.String, "json": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean,
    "list[string]": pl.List(pl.String), "list[int]": pl.List(pl.Int64), "list[float]": pl.List(pl.Float64),
    "list[bool]": pl.List(pl.Boolean),
}
STATUS_COLUMNS = ("status", "error_type", "error_message")
TAIL_COLUMNS = ("index", "attempts", "cached", "provider")
_SCHEMA_TYPES = {"string": "string", "integer": "int", "number": "float", "boolean": "bool"}


def result_fields(schema: dict | None, keys: list[str] | None, expect_json: bool) -> list[dict]:
    """The result fields of an operation: [{"name", "key", "type", "categorical"}]; key None is the whole result.

    categorical: the values are from a fixed set (an enum; of a list's items for a list).

    From its JSON schema's properties (typed), else its required keys (as text),
    else one `result` column: the text of a plain answer, or the JSON of any other.
    """
    properties = (schema or {}).get("properties")
    if properties:
        return [{"name": name, "key": name, "type": type_of_schema(spec), "categorical": _categorical(spec)}
                for name, spec in properties.items()]
    if keys:
        return [{"name": name, "key": name, "type": "json", "categorical": False} for name in keys]
    return [{"name": "result", "key": None, "type": "json" if expect_json else "string", "categorical": False}]


def _categorical(spec: dict) -> bool:
    return "enum" in spec or "enum" in (spec.get("items") or {})


def type_of_schema(spec: dict) -> str:
    """The type tag of a JSON schema (the subset AgentFlow sends); json for anything else."""
    if "enum" in spec and "type" not in spec:
        return "string" if all(isinstance(value, str) for value in spec["enum"]) else "json"
    kinds = spec.get("type")
    kinds = [kinds] if isinstance(kinds, str) else [kind for kind in kinds or [] if kind != "null"]
    if len(kinds) != 1:
        return "json"
    if kinds[0] == "array":
        inner = type_of_schema(spec.get("items") or {})
        return f"list[{inner}]" if f"list[{inner}]" in DTYPES else "json"
    return _SCHEMA_TYPES.get(kinds[0], "json")


@dataclass(frozen=True)
class OutputShape:
    """Which columns the output has: the input's (none for the narrow shape) and the result's."""

    input_columns: tuple[dict, ...]
    result_fields: tuple[dict, ...]

    @classmethod
    def of(cls, input_columns: list[dict] | None, result_fields: list[dict]) -> "OutputShape":
        return cls(tuple(input_columns or ()), tuple(result_fields))

    @property
    def with_input(self) -> bool:
        return bool(self.input_columns)

    def names(self) -> list[str]:
        """The output's column names, in order."""
        return [name for name, _ in self._columns()]

    def schema(self) -> pl.Schema:
        """The output's column names and types (what an output of no rows has)."""
        return self.flat(pl.DataFrame(schema=STORED_SCHEMA)).schema

    def flat(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Stored output rows as the output's typed columns."""
        rows = decoded(decoded(rows, "metadata", self._metadata_keys()), "result", self._result_keys())
        return rows.select(expr.alias(name) for name, expr in self._columns())

    def with_input_struct(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Stored output rows with an "input" column: the input columns as one struct, under their own names."""
        inputs = pl.struct(input_expr(column).alias(column["name"]) for column in self.input_columns)
        return decoded(rows, "metadata", self._metadata_keys()).select(*STORED_SCHEMA, inputs.alias("input"))

    def _metadata_keys(self) -> list[str]:
        return [column.get("key", column["name"]) for column in self.input_columns
                if column["role"] == "metadata" and column["type"] in SCALAR_TYPES]

    def _result_keys(self) -> list[str]:
        return [field["key"] for field in self.result_fields
                if field["key"] is not None and field["type"] in SCALAR_TYPES]

    def _columns(self) -> list[tuple[str, pl.Expr]]:
        inputs = [(column["name"], input_expr(column)) for column in self.input_columns]
        results = [(field["name"], _decoded_result_expr(field)) for field in self.result_fields]
        status = [(name, pl.col(name)) for name in STATUS_COLUMNS]
        tail = [(name, pl.col(name)) for name in TAIL_COLUMNS]
        if self.with_input:
            ordered = [(inputs, ""), (results, "result_"), (status + tail, "_")]
        else:
            head = [("index", pl.col("index")), ("id", pl.col("id")), ("status", pl.col("status"))]
            errors = [(name, pl.col(name)) for name in STATUS_COLUMNS[1:]]
            ordered = [(head, "_"), (results, "result_"), (errors + tail[1:], "_")]
        return _unique(ordered)


# The stored output rows' columns (see the module docstring).
STORED_SCHEMA = {
    "index": pl.Int64, "id": pl.String, "content": pl.String, "metadata": pl.String, "status": pl.String,
    "result": pl.String, "error_type": pl.String, "error_message": pl.String, "attempts": pl.Int32,
    "cached": pl.Boolean, "model": pl.String, "confidence": pl.Float64, "provider": pl.String,
}


SCALAR_TYPES = ("string", "int", "float", "bool")


def decoded_name(column: str) -> str:
    """The name of `decoded`'s column for a JSON column (no stored column has it)."""
    return f"{column}:decoded"


def decoded(rows: pl.DataFrame, column: str, keys: list[str]) -> pl.DataFrame:
    """`rows` with decoded_name(column): the values at `keys` of `column`'s JSON objects, as JSON text
    (strings unquoted, as json_path_match gives them), every key parsed in one pass.

    One json_path_match per key parsed each object again for every key: at 1M
    rows that was most of an output's time. A value of another shape than its
    column's (nested where a scalar was recorded) fails the one pass: that
    frame is then read key by key.
    """
    if not keys:
        return rows
    try:
        struct = pl.col(column).str.json_decode(pl.Struct(dict.fromkeys(keys, pl.String)))
        return rows.with_columns(struct.alias(decoded_name(column)))
    except pl.exceptions.ComputeError:
        return rows.with_columns(pl.struct(json_text(column, key).alias(key) for key in keys)
                                 .alias(decoded_name(column)))


def json_text(column: str, key: str) -> pl.Expr:
    """The JSON text of the value at `key` of `column`'s objects, strings unquoted (null where none is)."""
    if "\\" in key:  # JSONPath cannot name it: decoded as the one field of a struct
        return pl.col(column).str.json_decode(pl.Struct({key: pl.String})).struct.field(key)
    return pl.col(column).str.json_path_match(json_path(key))


def input_expr(column: dict) -> pl.Expr:
    """An input column's values: content and id as stored, a metadata key out of the metadata's JSON.

    A scalar metadata column is read from `decoded` metadata; a nested one
    (json) as its JSON text.
    """
    if column["role"] != "metadata":
        return typed(pl.col(column["role"]), column["type"])
    key = column.get("key", column["name"])
    if column["type"] not in SCALAR_TYPES:
        return json_text("metadata", key)
    return typed(pl.col(decoded_name("metadata")).struct.field(key), column["type"])


def result_expr(field: dict) -> pl.Expr:
    """A result field's values out of the result's JSON (null when the item has no result)."""
    return typed(pl.col("result").str.json_path_match(json_path(field["key"])), field["type"])


def _decoded_result_expr(field: dict) -> pl.Expr:
    """result_expr over `decoded` results, for the fields they hold."""
    if field["key"] is None or field["type"] not in SCALAR_TYPES:
        return result_expr(field)
    return typed(pl.col(decoded_name("result")).struct.field(field["key"]), field["type"])


def typed(text: pl.Expr, kind: str) -> pl.Expr:
    """JSON text of values (strings unquoted, as json_path_match gives them) as the type `kind` names."""
    if kind in ("string", "json"):
        return text
    if kind == "bool":
        return pl.when(text == "true").then(True).when(text == "false").then(False).otherwise(None)
    if kind.startswith("list["):
        # Decoded as floats and cast: an integer answer may be written 2.0.
        inner = DTYPES[kind].inner
        decoded = text.str.json_decode(pl.List(pl.Float64 if inner.is_numeric() else inner))
        return decoded.cast(DTYPES[kind], strict=False)
    return text.cast(DTYPES[kind], strict=False)


def json_path(key: str | None) -> str:
    """The JSONPath of an object's key (quotes escaped; Polars' JSONPath cannot name a key with a backslash)."""
    if key is None:
        return "$"
    return "$['" + key.replace("'", "\\'") + "']"


def _unique(groups: list[tuple[list[tuple[str, pl.Expr]], str]]) -> list[tuple[str, pl.Expr]]:
    taken: set[str] = set()
    columns = []
    for group, prefix in groups:
        for name, expr in group:
            while name in taken:
                name = (prefix or "_") + name
            taken.add(name)
            columns.append((name, expr))
    return columns
