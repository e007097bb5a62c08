"""loaders.read: files in, item frames out (pure: no Ray, no HTTP)."""

import csv
import io
import json
import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from engine.errors import InvalidRequest
from loaders import dataframe_items, read_items, read_items_list
from loaders.source import detect_format, sniff, upload_suffix

ROWS = [
    {"content": "héllo wörld 😀", "id": "007", "category": "news"},
    {"content": "second, with a comma and \"quotes\"", "id": "2", "category": "日本語"},
    {"content": "  kept whitespace  ", "id": "3", "category": ""},
]
EXPECTED = [{"content": r["content"], "id": r["id"], "metadata": {"category": r["category"]}} for r in ROWS]
FORMATS = ["csv", "tsv", "json", "jsonl", "parquet", "txt"]


def delimited(rows: list[dict], separator: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=separator, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def encode(fmt: str, rows: list[dict] = ROWS) -> bytes:
    if fmt in ("csv", "tsv"):
        return delimited(rows, "," if fmt == "csv" else "\t")
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode()
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    if fmt == "parquet":
        return parquet(pl.DataFrame(rows))
    return "".join(r["content"] + "\n" for r in rows).encode()


def expected(fmt: str) -> list[dict]:
    return [{"content": r["content"]} for r in ROWS] if fmt == "txt" else EXPECTED


def options(fmt: str) -> dict:
    return {} if fmt == "txt" else {"id_column": "id"}


def message(excinfo) -> str:
    return excinfo.value.message


# ---- every format -----------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_from_a_path(fmt, tmp_path):
    path = tmp_path / f"items.{fmt}"
    path.write_bytes(encode(fmt))
    assert read_items_list(path, **options(fmt)) == expected(fmt)
    assert read_items_list(str(path), **options(fmt)) == expected(fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_from_bytes(fmt):
    assert read_items_list(encode(fmt), fmt, **options(fmt)) == expected(fmt)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet", "txt"])
def test_format_is_sniffed_from_bytes(fmt):
    assert detect_format(encode(fmt), None) == fmt
    assert read_items_list(encode(fmt), **options(fmt)) == expected(fmt)


@pytest.mark.parametrize("head, fmt", [
    (b"PAR1....", "parquet"),
    (b"  \n[1, 2]", "json"),
    (b'{\n  "items": []\n}', "json"),
    (b'{"items": ["a"]}', "json"),
    (b'{"content": "a"}\n{"content": "b"}\n', "jsonl"),
    (b"\xef\xbb\xbfa,b\n1,2\n", "csv"),
    (b"just words\nmore, words\n", "txt"),
])
def test_sniff(head, fmt):
    assert sniff(head) == fmt


@pytest.mark.parametrize("head", [b"PK\x03\x04\x14\x00\x06\x00", b"\xff\xfea\x00,\x00b\x00"])  # xlsx, UTF-16
def test_sniff_refuses_binary_files(head):
    with pytest.raises(InvalidRequest, match="binary") as refused:
        sniff(head)
    assert refused.value.field == "file"


@pytest.mark.parametrize("filename, content_type, suffix", [
    ("items.csv", "application/json", ".csv"),  # the extension first
    ("items", "application/x-ndjson; charset=utf-8", ".jsonl"),
    ("export.dat", "text/tab-separated-values", ".tsv"),
    ("items.xlsx", "application/octet-stream", ".xlsx"),  # neither: the sniff decides
    ("items", None, ""),
])
def test_an_upload_is_stored_under_its_format_extension(filename, content_type, suffix):
    assert upload_suffix(filename, content_type) == suffix


def test_extension_wins_over_content(tmp_path):
    path = tmp_path / "items.ndjson"
    path.write_bytes(b'{"content": "a"}\n')
    assert detect_format(path, None) == "jsonl"
    odd = tmp_path / "items.data"
    odd.write_bytes(b"content,x\na,1\n")
    assert read_items_list(odd) == [{"content": "a", "metadata": {"x": "1"}}]


def test_unknown_format_names_the_allowed_ones():
    with pytest.raises(InvalidRequest) as excinfo:
        read_items(b"a", "xlsx")
    assert "xlsx" in message(excinfo) and "csv, tsv, json, jsonl, txt, parquet" in message(excinfo)
    assert excinfo.value.field == "format"


@pytest.mark.parametrize("fmt", FORMATS)
def test_frames_have_exactly_the_item_columns(fmt):
    frames = list(read_items(encode(fmt), fmt, **options(fmt)))
    assert all(f.schema == pl.Schema({"content": pl.String, "id": pl.String, "metadata": pl.String})
               for f in frames)


@pytest.mark.parametrize("fmt", FORMATS)
def test_order_is_kept_across_chunk_boundaries(fmt):
    rows = [{"content": f"item {i}", "id": str(i), "category": "c"} for i in range(50)]
    frames = list(read_items(encode(fmt, rows), fmt, chunk_rows=7))
    assert [f.height for f in frames] == [7] * 7 + [1]
    assert pl.concat(frames)["content"].to_list() == [f"item {i}" for i in range(50)]


# ---- choosing the columns ---------------------------------------------------

def test_content_column_named_content_is_the_default():
    items = read_items_list(b"title,content\nT,body\n")
    assert items == [{"content": "body", "metadata": {"title": "T"}}]


def test_the_only_text_column_is_the_content():
    data = parquet(pl.DataFrame({"n": [1, 2], "text": ["a", "b"], "score": [0.5, 1.5]}))
    assert read_items_list(data) == [{"content": "a", "metadata": {"n": 1, "score": 0.5}},
                                     {"content": "b", "metadata": {"n": 2, "score": 1.5}}]
    assert read_items_list(b'[{"n": 1, "text": "a", "none": null}]') == [
        {"content": "a", "metadata": {"n": 1, "none": None}}]


def test_ambiguous_columns_are_listed():
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(b"title,body\nT,B\n"))
    assert message(excinfo) == "ambiguous: pass content_column; columns found: title, body"


def test_named_content_column():
    assert read_items_list(b"title,body\nT,B\n", content_column="body") == [
        {"content": "B", "metadata": {"title": "T"}}]


@pytest.mark.parametrize("option", ["content_column", "id_column"])
def test_a_missing_named_column_lists_the_columns_found(option):
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(b"content,b\nx,1\n", **{option: "nope"}))
    assert "'nope' not found" in message(excinfo) and "columns found: content, b" in message(excinfo)
    assert excinfo.value.field == option


def test_metadata_columns_pick_and_order_the_metadata():
    data = b"content,a,b,c\nx,1,2,3\n"
    picked = read_items_list(data, metadata_columns=["c", "a"])
    assert picked == [{"content": "x", "metadata": {"c": "3", "a": "1"}}]
    assert read_items_list(data, metadata_columns=[]) == [{"content": "x"}]
    with pytest.raises(InvalidRequest, match="'z' not found"):
        list(read_items(data, metadata_columns=["z"]))


def test_id_values_are_cast_to_text():
    data = parquet(pl.DataFrame({"content": ["a", "b"], "n": [7, None]}))
    assert [f["id"].to_list() for f in read_items(data, id_column="n")] == [["7", None]]
    assert read_items_list(b'[{"content": "a", "k": 12}]', id_column="k") == [{"content": "a", "id": "12"}]


def test_parquet_typed_columns_become_json_metadata():
    frame = pl.DataFrame({"content": ["a"], "n": [1.5], "tags": [["x", "y"]], "blob": [b"\x00\x01"],
                          "day": [date(2024, 1, 31)], "nested": [{"k": 1}]})
    assert read_items_list(parquet(frame)) == [{"content": "a", "metadata": {
        "n": 1.5, "tags": ["x", "y"], "blob": "AAE=", "day": "2024-01-31", "nested": {"k": 1}}}]


def test_a_nested_content_column_is_rejected():
    with pytest.raises(InvalidRequest, match="column 'tags' holds List"):
        list(read_items(parquet(pl.DataFrame({"tags": [["x"]]})), content_column="tags"))


def test_a_large_header_is_listed_shortly():
    header = ",".join(f"col{i}" for i in range(500))
    with pytest.raises(InvalidRequest) as excinfo:
        list(read_items(f"{header}\n{','.join('v' * 500)}\n".encode()))
    assert "col19, ... (480 more)" in message(excinfo)


# ---- CSV ---------------------------------------------------------------------

def test_csv_values_stay_text():
    assert read_items_list(b"content,zip,flag\n007,01234,true\n") == [
        {"content": "007", "metadata": {"zip": "01234", "flag": "true"}}]


def test_csv_quoted_newlines_and_bom():
    data = b'\xef\xbb\xbfcontent,n\n"two\nlines",1\n'
    assert read_items_list(data) == [{"content": "two\nlines", "metadata": {"n": "1"}}]


def test_tsv_keeps_commas():
    assert read_items_list(b"content\tn\na, b\t1\n", "tsv") == [{"content": "a, b", "metadata": {"n": "1"}}]


# ---- JSON and JSONL ----------------------------------------------------------

def test_json_items_object_and_strings():
    assert read_items_list(b'{"items": ["a", "b"]}') == [{"content": "a"}, {"content": "b"}]
    assert read_items_list(b'["a", {"content": "b", "x": 1}]') == [{"content": "a"},
                                                                    {"content": "b", "metadata": {"x": 1}}]


def test_json_nested_metadata_stays_json():
    data = b'[{"content": "a", "tags": ["x", "y"], "meta": {"k": {"deep": true}}, "n": 1.5}]'
    frame = next(read_items(data))
    assert json.loads(frame["metadata"][0]) == {"tags": ["x", "y"], "meta": {"k": {"deep": True}}, "n": 1.5}


def test_jsonl_string_lines_and_blank_lines():
    assert read_items_list(b'"a"\n\n   \n{"content": "b", "id": 5}\r\n', "jsonl", id_column="id") == [
        {"content": "a"}, {"content": "b", "id": "5"}]


# ---- plain text --------------------------------------------------------------

def test_txt_one_item_per_non_blank_line():
    data = b"first\r\n\n  second line \n\t\nlast without newline"
    assert read_items_list(data, "txt") == [{"content": "first"}, {"content": "  second line "},
                                            {"content": "last without newline"}]


# ---- size ------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_three_thousand_columns(fmt):
    wide = pl.DataFrame({f"c{i}": [f"v{i}-{r}" for r in range(100)] for i in range(3000)})
    data = wide.write_csv().encode() if fmt == "csv" else parquet(wide)
    frames = list(read_items(data, fmt, content_column="c7", id_column="c0"))
    assert sum(f.height for f in frames) == 100
    first = frames[0].row(0, named=True)
    assert (first["content"], first["id"]) == ("v7-0", "v0-0")
    metadata = json.loads(first["metadata"])
    assert len(metadata) == 2998 and metadata["c2999"] == "v2999-0"


def test_unicode_in_metadata_is_not_escaped():
    frame = next(read_items(encode("csv"), id_column="id"))
    assert frame["metadata"].to_list()[1] == '{"category":"日本語"}'
    frame = next(read_items(encode("jsonl"), id_column="id"))
    assert frame["metadata"].to_list()[1] == '{"category":"日本語"}'


def open_paths() -> set[str]:
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fd) for fd in fds.iterdir()} if fds.is_dir() else set()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "txt"])
def test_abandoning_a_stream_closes_the_file(fmt, tmp_path):
    path = tmp_path / f"many.{fmt}"
    path.write_bytes(encode(fmt, [{"content": f"line {i}", "n": "1"} for i in range(20_000)]))
    frames = read_items(path, chunk_rows=100)
    assert next(frames).height == 100
    assert str(path.resolve()) in open_paths() or not Path("/proc/self/fd").is_dir()
    frames.close()
    assert str(path.resolve()) not in open_paths()


def test_a_column_named_id_is_the_item_id_unless_told_otherwise():
    from loaders import read_items_list

    rows = read_items_list(b"id,text\n7,hello\n8,world\n", "csv")
    assert [(r["id"], r["content"]) for r in rows] == [("7", "hello"), ("8", "world")]
    assert "metadata" not in rows[0] or not rows[0]["metadata"]
    as_content = read_items_list(b"id,text\n7,hello\n", "csv", content_column="id")
    assert as_content[0]["content"] == "7" and as_content[0].get("id") is None


def test_a_dataframe_is_chosen_and_guarded_as_a_file_is():
    frame = pl.DataFrame({"text": ["a"], "n": [7], "blob": [b"\x00\x01"], "tags": [["x"]]})
    items = dataframe_items(frame)  # the only text column is the content, as in a file
    assert items.to_dicts() == [{"content": "a", "id": None,
                                 "metadata": '{"n":7,"blob":"AAE=","tags":["x"]}'}]
    for column, holds in (("blob", "Binary"), ("tags", "List")):
        with pytest.raises(InvalidRequest, match=f"column '{column}' holds {holds}") as raised:
            dataframe_items(frame, content_column=column)
        assert raised.value.field == "content_column"
        with pytest.raises(InvalidRequest, match=f"column '{column}' holds {holds}"):
            list(read_items(parquet(frame), content_column=column))
    with pytest.raises(InvalidRequest, match="'id' not found") as missing:
        dataframe_items(frame, id_column="id")
    assert missing.value.field == "id_column"
