"""loaders.export: result records to json, jsonl and csv (pure: no Ray, no HTTP)."""

import csv
import io
import itertools
import json

import pytest

from engine.errors import InvalidRequest
from loaders import iter_csv, iter_jsonl, write_json, write_results
from loaders.csv_export import neutralise


def record(index, result=None, status="completed", error=None, id_=None, **extra):
    return {"index": index, "id": id_ if id_ is not None else f"id-{index}", "status": status, "result": result,
            "error": error, **extra}


def parse(pieces) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(pieces).decode(), newline="")))


def as_dicts(pieces) -> list[dict]:
    header, *rows = parse(pieces)
    return [dict(zip(header, row)) for row in rows]


# ---- json and jsonl ----------------------------------------------------------

def test_write_json_is_an_array_with_unicode_kept():
    records = [record(0, {"label": "😀 ok"}), record(1, status="failed",
                                                     error={"type": "provider_timeout", "message": "late"})]
    data = write_json(iter(records))
    assert json.loads(data) == records and "😀" in data.decode()


def test_iter_jsonl_is_one_line_per_record():
    records = [record(i, {"n": i}, attempts=1, cached=False) for i in range(5)]
    lines = b"".join(iter_jsonl(records)).decode().splitlines()
    assert [json.loads(line) for line in lines] == records


def test_iter_jsonl_streams():
    endless = (record(i, {"n": i}) for i in itertools.count())
    first = next(iter_jsonl(endless, chunk_rows=3))
    assert [json.loads(line)["index"] for line in first.decode().splitlines()] == [0, 1, 2]


def test_write_results_dispatches():
    records = [record(0, {"label": "a"})]
    assert json.loads(b"".join(write_results(records, "json"))) == records
    assert json.loads(b"".join(write_results(records, "jsonl"))) == records[0]
    assert as_dicts(write_results(records, "csv", result_columns=["label"]))[0]["label"] == "a"


def test_write_results_rejects_an_unknown_format():
    with pytest.raises(InvalidRequest) as excinfo:
        write_results([], "xml")
    assert "json, jsonl, csv" in excinfo.value.message and excinfo.value.field == "format"


# ---- csv: layout -------------------------------------------------------------

def test_csv_classification_columns():
    records = [record(0, {"label": "positive", "confidence": 0.93}),
               record(1, {"label": "negative", "confidence": 1})]
    header, *rows = parse(iter_csv(records))
    assert header == ["index", "id", "status", "label", "confidence", "error_type", "error_message"]
    assert rows == [["0", "id-0", "completed", "positive", "0.93", "", ""],
                    ["1", "id-1", "completed", "negative", "1", "", ""]]


def test_csv_multi_label_is_joined():
    rows = as_dicts(iter_csv([record(0, {"labels": ["billing", "urgent"], "confidence": 0.8})]))
    assert rows[0]["labels"] == "billing; urgent"


def test_csv_extraction_nested_values_are_json():
    result = {"name": "Ada", "address": {"city": "London", "zip": None}, "phones": [{"n": 1}, "x", 2, True],
              "vip": True, "missing": None}
    row = as_dicts(iter_csv([record(0, result)]))[0]
    assert json.loads(row["address"]) == {"city": "London", "zip": None}
    assert row["phones"] == '{"n": 1}; x; 2; true'
    assert (row["vip"], row["missing"]) == ("true", "")


def test_csv_string_result_is_one_column():
    records = [record(0, "A short summary."), record(1, None, status="pending")]
    header, *rows = parse(iter_csv(records))
    assert header == ["index", "id", "status", "result", "error_type", "error_message"]
    assert rows == [["0", "id-0", "completed", "A short summary.", "", ""], ["1", "id-1", "pending", "", "", ""]]
    assert parse(iter_csv(records, result_columns=["result"]))[1][3] == "A short summary."


def test_csv_errors_and_extra_keys():
    records = [record(0, {"label": "a"}, attempts=1, cached=True),
               record(1, status="failed", error={"type": "provider_timeout", "message": "no answer in 60 s"},
                      attempts=5, cached=False)]
    header, *rows = parse(iter_csv(records))
    assert header == ["index", "id", "status", "label", "error_type", "error_message", "attempts", "cached"]
    assert rows[1] == ["1", "id-1", "failed", "", "provider_timeout", "no answer in 60 s", "5", "false"]
    assert rows[0][-2:] == ["1", "true"]


def test_csv_result_columns_fix_order_and_set():
    records = [record(0, {"b": 1, "a": 2, "extra": 3}), record(1, {"a": 4})]
    header, *rows = parse(iter_csv(records, result_columns=["a", "b", "c"]))
    assert header[3:6] == ["a", "b", "c"]
    assert [row[3:6] for row in rows] == [["2", "1", ""], ["4", "", ""]]


def test_csv_columns_come_from_the_first_chunk_in_first_seen_order():
    records = [record(0, None, status="failed"), record(1, {"b": 1}), record(2, {"a": 2, "b": 3}),
               record(3, {"late": 4})]
    header, *rows = parse(iter_csv(records, chunk_rows=3))
    assert header[3:5] == ["b", "a"] and "late" not in header
    assert len(rows) == 4


def test_csv_result_key_clashing_with_a_record_column_is_prefixed():
    header = parse(iter_csv([record(0, {"status": "ok", "id": 9})]))[0]
    assert header == ["index", "id", "status", "result_status", "result_id", "error_type", "error_message"]


def test_csv_streams_header_then_chunks():
    pieces = list(iter_csv((record(i, {"n": i}) for i in range(5)), chunk_rows=2))
    assert len(pieces) == 4 and pieces[0] == b"index,id,status,n,error_type,error_message\r\n"
    assert [row[0] for row in parse(pieces)[1:]] == ["0", "1", "2", "3", "4"]


def test_csv_keeps_unicode_and_quotes_line_breaks():
    rows = as_dicts(iter_csv([record(0, {"text": "日本語 😀, \"quoted\"\r\nnext line"})]))
    assert rows[0]["text"] == "日本語 😀, \"quoted\"\r\nnext line"
    assert b'"x\ry"' in b"".join(iter_csv([record(0, {"t": "x\ry"})]))


def test_csv_of_no_records_is_a_header():
    assert parse(iter_csv([])) == [["index", "id", "status", "error_type", "error_message"]]


# ---- csv: formula neutralisation ---------------------------------------------

TRIGGERS = ["=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠"]


@pytest.mark.parametrize("start", TRIGGERS)
def test_every_trigger_is_neutralised_in_every_text_cell(start):
    text = f"{start}HYPERLINK(\"http://x\")"
    records = [record(0, {"label": text, "tags": [text, "ok"], start + "key": "v"}, id_=text,
                      error={"type": text, "message": text})]
    row = as_dicts(iter_csv(records))[0]
    quoted = "'" + text
    assert row["id"] == row["label"] == row["error_type"] == row["error_message"] == quoted
    assert row["tags"] == quoted + "; ok"
    assert "'" + start + "key" in row  # header cells too


def test_string_result_is_neutralised():
    assert as_dicts(iter_csv([record(0, "=1+2")]))[0]["result"] == "'=1+2"


@pytest.mark.parametrize("text", ["-3.5", "+1", "-0", "1e5", "-2.5E-3", ".5"])
def test_plain_numbers_in_text_stay_as_they_are(text):
    assert neutralise(text) == text


@pytest.mark.parametrize("text", ["-3.5+cmd", "+1)", "-", "=3", "－3", "-1,2", "@1"])
def test_number_like_formulas_are_neutralised(text):
    assert neutralise(text) == "'" + text


def test_numeric_values_are_not_text_cells():
    row = as_dicts(iter_csv([record(0, {"delta": -3, "score": -0.25, "ok": "safe", "empty": ""})]))[0]
    assert (row["delta"], row["score"], row["ok"], row["empty"]) == ("-3", "-0.25", "safe", "")
