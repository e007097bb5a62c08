"""loaders.read: malformed files, empty files and limits give 422/413 naming the place."""

import json

import polars as pl
import pytest
from test_loaders import (  # tests/unit is on sys.path (no __init__.py)
    FORMATS,
    encode,
    message,
    parquet,
)

import loaders.tabular
from engine.errors import InvalidRequest, PayloadTooLarge
from loaders import read_items, read_items_list

# ---- CSV ---------------------------------------------------------------------

@pytest.mark.parametrize("data, line, fields", [
    (b"content,b\nx,1\ny\nz,3\n", 3, 1),
    (b"content,b\nx,1\ny,2,3\n", 3, 3),
    (b'content,b\n"multi\nline",1\nok,2\nbad,2,3\n', 5, 3),
    (b'content,b\n"never closed,1\nz,3\n', 2, 1),
])
def test_ragged_csv_names_the_line(data, line, fields):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(data, "csv"))
    assert f"CSV line {line} has {fields} fields but the header has 2" in message(excinfo)


def test_ragged_row_far_into_the_file():
    rows = b"".join(b"row %d,%d\n" % (i, i) for i in range(100_000))
    with pytest.raises(InvalidRequest, match="CSV line 100002 has 1 fields"):
        list(read_items(b"content,n\n" + rows + b"oops\n", chunk_rows=1000))


def test_duplicate_header_names():
    with pytest.raises(InvalidRequest, match="repeats the column names: a"):
        list(read_items(b"content,a,a\nx,1,2\n"))


def test_a_row_longer_than_a_block(monkeypatch):
    monkeypatch.setattr(loaders.tabular, "CSV_BLOCK_BYTES", 1000)
    data = b"content,n\n" + b"x" * 5000 + b",1\n"
    with pytest.raises(InvalidRequest, match="a row is longer than"):
        list(read_items(data, "csv"))



# ---- JSON and JSONL ----------------------------------------------------------

@pytest.mark.parametrize("data, found", [
    (b"42", "found a number"),
    (b'"text"', "found a string"),
    (b'{"a": 1, "b": 2}', "found an object with keys: a, b"),
    (b'{"items": "nope"}', '"items" is a string'),
    (b'["a", 3]', "item 2 is a number"),
    (b'[{"content": "a"}, [1]]', "item 2 is an array"),
    (b'[{"content": "a"},]', "invalid JSON at line 1, column 19"),
])
def test_json_that_is_not_a_list_of_items(data, found):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(data, "json"))
    assert found in message(excinfo)


def test_jsonl_names_the_bad_line():
    data = b'{"content": "a"}\n\n{"content": "b"\n'
    with pytest.raises(InvalidRequest, match="line 3 is not valid JSON"):
        list(read_items(data, "jsonl"))
    with pytest.raises(InvalidRequest, match="line 2 is a number"):
        list(read_items(b'{"content": "a"}\n7\n', "jsonl"))



# ---- errors shared by every format -------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "txt"])
def test_an_empty_file_has_no_items(fmt):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(b"", fmt))
    assert message(excinfo) == "file has no items"


@pytest.mark.parametrize("data, fmt", [
    (b"content,b\n", "csv"),
    (parquet(pl.DataFrame({"content": [], "b": []}, schema={"content": pl.String, "b": pl.Int64})), "parquet"),
])
def test_no_rows_names_the_columns(data, fmt):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(data, fmt))
    assert message(excinfo) == "file has no items (columns found: content, b)"


@pytest.mark.parametrize("data, fmt", [(b"[]", "json"), (b'{"items": []}', "json"), (b"\n\n", "jsonl"),
                                       (b"\n  \n", "txt")])
def test_no_items_in_json_and_text(data, fmt):
    with pytest.raises(InvalidRequest, match="file has no items"):
        list(read_items(data, fmt))


@pytest.mark.parametrize("data, fmt, row", [
    (b"content,b\nx,1\n,2\n", "csv", 2),
    (b'[{"content": "a"}, {"content": null}]', "json", 2),
    (b'[{"content": "a"}, {"other": "b"}]', "json", 2),
    (b'{"content": ""}\n', "jsonl", 1),
])
def test_an_empty_content_names_the_row(data, fmt, row):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(data, fmt))
    assert message(excinfo).startswith(f"row {row}: content (column 'content') is empty")


def test_empty_content_row_is_counted_across_chunks():
    rows = [{"content": f"r{i}" if i != 12 else "", "b": "1"} for i in range(20)]
    with pytest.raises(InvalidRequest, match="row 13: content"):
        list(read_items(encode("csv", rows), chunk_rows=5))


@pytest.mark.parametrize("data, fmt, where", [
    (b"content,b\nok,1\nbad \xff,2\n", "csv", "offset 19 (line 3)"),
    (b"cont\xe9nt,b\nok,1\n", "csv", "offset 4 (line 1)"),
    (b'{"content": "ok"}\n{"content": "\xff"}\n', "jsonl", "offset 31 (line 2)"),
    (b'["ok",\n "\xc3"]', "json", "offset 9 (line 2)"),
    (b"fine\nnot \xfe fine\n", "txt", "offset 9 (line 2)"),
])
def test_non_utf8_is_rejected_with_its_place(data, fmt, where):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(data, fmt))
    assert message(excinfo) == f"file is not UTF-8 text: invalid byte at {where}"


def test_not_a_parquet_file():
    with pytest.raises(InvalidRequest, match="not a readable Parquet file"):
        list(read_items(b"PAR1 but not really", "parquet"))


# ---- limits ------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_more_than_max_items_is_payload_too_large(fmt):
    rows = [{"content": f"item {i}", "id": str(i), "category": "c"} for i in range(30)]
    with pytest.raises(PayloadTooLarge) as excinfo:
        list(read_items(encode(fmt, rows), fmt, max_items=29))
    assert "more than 29 items" in message(excinfo)
    assert len(read_items_list(encode(fmt, rows), fmt, max_items=30)) == 30


def test_max_items_raises_while_streaming():
    data = "".join(json.dumps({"content": f"item {i}"}) + "\n" for i in range(100)).encode()
    frames = read_items(data, "jsonl", max_items=35, chunk_rows=10)
    assert [next(frames).height for _ in range(3)] == [10, 10, 10]
    with pytest.raises(PayloadTooLarge, match="the limit is 35"):
        next(frames)
