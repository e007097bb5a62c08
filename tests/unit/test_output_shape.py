"""loaders.output_shape, loaders.input_columns, the flat CSV and Parquet writers, engine.batch.samples."""

import io
import json

import polars as pl
import pytest

from engine.batch.samples import MAX_SAMPLES, add_sample, rates
from engine.sdk.results import json_array
from loaders import OutputShape, iter_flat_csv, iter_parquet, read_items, result_fields
from loaders.csv_export import iter_csv
from loaders.output_shape import STORED_SCHEMA, json_path, type_of_schema

LABEL_SCHEMA = {"properties": {"label": {"type": "string", "enum": ["a", "b"]}, "confidence": {"type": "number"}}}


def stored(rows: list[dict]) -> pl.DataFrame:
    defaults = {"id": None, "content": "c", "metadata": None, "status": "completed", "result": None,
                "error_type": None, "error_message": None, "attempts": 1, "cached": False, "provider": "openai"}
    return pl.DataFrame([{**defaults, "index": i, **row} for i, row in enumerate(rows)], schema=STORED_SCHEMA)


def test_input_columns_keep_the_file_order_names_and_types():
    data = pl.DataFrame({"n": [1, 2], "text": ["x", "y"], "ok": [True, False], "tags": [["a"], []], "key": ["k1", "k2"]})
    buffer = io.BytesIO()
    data.write_parquet(buffer)
    items = read_items(buffer.getvalue(), "parquet", content_column="text", id_column="key")
    frames = list(items)
    assert items.input_columns == [
        {"name": "n", "role": "metadata", "type": "int"}, {"name": "text", "role": "content", "type": "string"},
        {"name": "ok", "role": "metadata", "type": "bool"}, {"name": "tags", "role": "metadata", "type": "json"},
        {"name": "key", "role": "id", "type": "string"}]
    shape = OutputShape.of(items.input_columns, result_fields(LABEL_SCHEMA, None, True))
    rows = frames[0].with_columns(index=pl.int_range(2), status=pl.lit("pending"), result=pl.lit(None, pl.String),
                                  error_type=pl.lit(None, pl.String), error_message=pl.lit(None, pl.String),
                                  attempts=pl.lit(0, pl.Int32), cached=pl.lit(False), provider=pl.lit(None, pl.String))
    flat = shape.flat(rows)
    assert flat.select("n", "text", "ok", "key").to_dicts() == data.select("n", "text", "ok", "key").to_dicts()
    assert flat["tags"].to_list() == ['["a"]', "[]"]  # nested values come back as their JSON text


def test_json_rows_are_typed_from_their_values():
    rows = [{"content": "x", "n": 1, "f": 2, "m": "s"}, {"content": "y", "f": 2.5, "m": 3}]
    items = read_items(json.dumps(rows).encode(), "json")
    list(items)
    assert [(c["name"], c["type"]) for c in items.input_columns] == [
        ("content", "string"), ("n", "int"), ("f", "float"), ("m", "json")]


def test_result_fields_are_typed_from_the_schema():
    schema = {"properties": {"s": {"type": "string"}, "i": {"type": ["integer", "null"]}, "b": {"type": "boolean"},
                             "l": {"type": "array", "items": {"type": "string", "enum": ["x"]}},
                             "o": {"type": "object"}, "any": {}}}
    fields = result_fields(schema, None, True)
    assert [(f["name"], f["type"], f["categorical"]) for f in fields] == [
        ("s", "string", False), ("i", "int", False), ("b", "bool", False), ("l", "list[string]", True),
        ("o", "json", False), ("any", "json", False)]
    assert result_fields(None, ["a"], True) == [{"name": "a", "key": "a", "type": "json", "categorical": False}]
    assert result_fields(None, None, False)[0] == {"name": "result", "key": None, "type": "string",
                                                   "categorical": False}
    assert type_of_schema({"enum": ["x", "y"]}) == "string"


def test_flat_columns_are_typed_and_failed_rows_have_them_all():
    shape = OutputShape.of([{"name": "status", "role": "content", "type": "string"}],
                           result_fields({"properties": {"status": {"type": "string"}, "n": {"type": "integer"},
                                                         "l": {"type": "array", "items": {"type": "integer"}}}},
                                         None, True))
    rows = stored([{"result": json.dumps({"status": "s", "n": 3, "l": [1, 2.0]})},
                   {"status": "failed", "error_type": "parse_error", "error_message": "bad"}])
    flat = shape.flat(rows)
    # The input keeps its name; a result field and then a status column that repeat it get prefixes.
    assert flat.columns == ["status", "result_status", "n", "l", "_status", "error_type", "error_message",
                            "index", "attempts", "cached", "provider"]
    assert flat.row(0)[:4] == ("c", "s", 3, [1, 2]) and flat.row(1)[1:4] == (None, None, None)
    assert flat.schema == shape.schema() and flat.schema["l"] == pl.List(pl.Int64)


def test_json_path_escapes_any_key():
    names = ["a b", "it's", "$", "br[0]", "größe", 'q"q']
    text = json.dumps(dict.fromkeys(names, "v"), ensure_ascii=False)
    assert [pl.select(pl.lit(text).str.json_path_match(json_path(name))).item() for name in names] == ["v"] * 6


def test_a_metadata_key_with_a_backslash_is_read_too():
    shape = OutputShape.of([{"name": "x\\y", "role": "metadata", "type": "string"}], [])
    assert shape.flat(stored([{"metadata": json.dumps({"x\\y": "v"})}]))["x\\y"].to_list() == ["v"]


def test_metadata_is_read_once_for_every_scalar_column_and_typed():
    columns = [{"name": "n", "role": "metadata", "type": "int"}, {"name": "ok", "role": "metadata", "type": "bool"},
               {"name": "s", "role": "metadata", "type": "string"}, {"name": "tags", "role": "metadata", "type": "json"}]
    shape = OutputShape.of(columns, [])
    rows = stored([{"metadata": json.dumps({"tags": [1], "s": "07", "n": 3, "ok": True})},
                   {"metadata": json.dumps({"n": "x", "s": 5})}, {}])
    flat = shape.flat(rows)
    assert flat.select("n", "ok", "s", "tags").rows() == [(3, True, "07", "[1]"), (None, None, "5", None),
                                                          (None, None, None, None)]
    assert shape.with_input_struct(rows)["input"].to_list()[0] == {"n": 3, "ok": True, "s": "07", "tags": "[1]"}


def test_result_fields_are_read_in_one_pass_and_a_wrong_shape_falls_back():
    shape = OutputShape.of(None, result_fields({"properties": {"n": {"type": "integer"}, "s": {"type": "string"},
                                                               "l": {"type": "array", "items": {"type": "string"}}}},
                                               None, True))
    rows = stored([{"result": json.dumps({"n": 2.0, "s": "x", "l": ["a"]})}, {"status": "failed"}])
    # An integer written 2.0 is 2, as in an integer list.
    assert shape.flat(rows).select("n", "s", "l").rows() == [(2, "x", ["a"]), (None, None, None)]
    nested = stored([{"result": json.dumps({"n": 1, "s": ["not", "text"], "l": []})}])
    assert shape.flat(nested).select("n", "s", "l").rows() == [(1, '["not","text"]', [])]


def test_a_nested_value_in_a_scalar_column_comes_back_as_its_json_text():
    # JSON rows are typed from their first chunk: a later row may hold an object where a string was seen.
    shape = OutputShape.of([{"name": "s", "role": "metadata", "type": "string"},
                            {"name": "n", "role": "metadata", "type": "int"}], [])
    rows = stored([{"metadata": json.dumps({"s": "a", "n": 1})}, {"metadata": json.dumps({"s": {"k": 1}, "n": 2})}])
    assert shape.flat(rows).select("s", "n").rows() == [("a", 1), ('{"k":1}', 2)]


def test_flat_csv_cells_follow_the_record_csv_rules():
    records = [{"index": 0, "id": "=cmd", "status": "completed", "result": {"l": ["a", "b"], "ok": True, "x": -3.5},
                "error": None}]
    frame = pl.DataFrame({"index": [0], "id": ["=cmd"], "status": ["completed"], "l": [["a", "b"]], "ok": [True],
                          "x": [-3.5], "error_type": [None], "error_message": [None]},
                         schema_overrides={"error_type": pl.String, "error_message": pl.String})
    assert b"".join(iter_flat_csv([frame], frame.columns)) == b"".join(iter_csv(records, result_columns=["l", "ok", "x"]))


def test_parquet_is_streamed_from_a_file_removed_after(tmp_path):
    schema = pl.Schema({"a": pl.String, "n": pl.Float64})
    frames = [pl.DataFrame({"a": ["x"], "n": [1.5]}), pl.DataFrame(schema=schema), pl.DataFrame({"a": ["y"], "n": [None]})]
    data = b"".join(iter_parquet(frames, schema, tmp_path))
    assert pl.read_parquet(io.BytesIO(data)).to_dicts() == [{"a": "x", "n": 1.5}, {"a": "y", "n": None}]
    assert list(tmp_path.iterdir()) == []
    empty = pl.read_parquet(io.BytesIO(b"".join(iter_parquet([], schema, tmp_path))))
    assert empty.schema == schema and empty.height == 0
    pieces = iter_parquet(frames, schema, tmp_path)
    next(pieces)
    pieces.close()  # a client that goes away: the file goes too
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("pieces", [[b'{"a":1}\n{"a":2}\n'], [b'{"a"', b':1}\n{"a":2', b"}\n"], [b'{"a":1}\n{"a":2}']])
def test_json_lines_become_one_array(pieces):
    assert json.loads(b"".join(json_array(pieces))) == [{"a": 1}, {"a": 2}]
    assert json.loads(b"".join(json_array([]))) == []


def test_samples_stay_bounded_and_cover_the_whole_run():
    samples = []
    for second in range(1, 1001):
        add_sample(samples, second, second * 10)
    assert len(samples) <= MAX_SAMPLES and samples[-1] == [1000, 10000] and samples[0][0] < 10
    assert {point["items_per_second"] for point in rates(samples)} == {10.0}
