"""GET /api/batches/{id}/output and /summary over HTTP: the input's columns come back, in every format."""

import csv
import io
import json

import polars as pl
import pytest

from tests.http.test_api import make_client, wait_finished

HEADER = ["review_id", "review", "product", "stars"]
# Values a round trip could spoil: a leading zero, a comma, a quote, a line break, non-ASCII, an empty
# cell, a number-like text; and a column named like an output column (status).
ROWS = [{"review_id": f"{i:03d}", "review": f"review {i}: \"great\", really\nsaid Zoë" if i % 3 else f"review {i}",
         "product": "" if i == 4 else f"p-{i % 4}", "stars": "-3.5" if i == 5 else str(i % 5 + 1)}
        for i in range(40)]
RESULT_COLUMNS = ["label", "confidence"]
TAIL = ["status", "error_type", "error_message", "index", "attempts", "cached", "provider"]
NARROW = ["index", "id", "status", "label", "confidence", "error_type", "error_message", "attempts", "cached",
          "provider"]


def csv_upload(rows=ROWS, header=HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def client(tmp_path, clean_simulator):
    with make_client(tmp_path, clean_simulator) as test_client:
        yield test_client


def finished_upload(client, data: bytes = None, **fields) -> str:
    form = {"operation": "classify", "categories": "good,bad", "content_column": "review",
            "id_column": "review_id", **fields}
    created = client.post("/api/files", data=form, files={"file": ("reviews.csv", data or csv_upload())})
    assert created.status_code == 201, created.text
    batch_id = created.json()["batch_id"]
    assert wait_finished(client, batch_id)["status"] in ("completed", "failed")
    return batch_id


def output(client, batch_id: str, fmt: str, **query):
    response = client.get(f"/api/batches/{batch_id}/output", params={"format": fmt, **query})
    assert response.status_code == 200, response.text
    return response


def csv_rows(client, batch_id, **query) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(output(client, batch_id, "csv", **query).text))
    return reader.fieldnames, list(reader)


def jsonl_records(client, batch_id, **query) -> list[dict]:
    return [json.loads(line) for line in output(client, batch_id, "jsonl", **query).text.splitlines()]


def parquet_frame(client, batch_id, **query) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(output(client, batch_id, "parquet", **query).content))


def test_every_format_gives_every_input_column_back_unchanged_row_by_row(client):
    batch_id = finished_upload(client)

    header, rows = csv_rows(client, batch_id)
    assert header == HEADER + RESULT_COLUMNS + TAIL
    assert [{name: row[name] for name in HEADER} for row in rows] == ROWS
    assert [int(row["index"]) for row in rows] == list(range(len(ROWS)))
    assert all(row["status"] == "completed" and row["label"] in ("good", "bad") for row in rows)

    records = jsonl_records(client, batch_id)
    assert [record["input"] for record in records] == ROWS
    assert [list(record["input"]) for record in records] == [HEADER] * len(ROWS)  # in the file's order
    assert [record["id"] for record in records] == [row["review_id"] for row in ROWS]

    frame = parquet_frame(client, batch_id)
    assert frame.columns == HEADER + RESULT_COLUMNS + TAIL
    assert frame.select(HEADER).to_dicts() == ROWS
    assert frame.schema["label"] == pl.String and frame.schema["confidence"] == pl.Float64
    assert frame.schema["index"] == pl.Int64 and frame.schema["cached"] == pl.Boolean
    assert frame["label"].is_in(["good", "bad"]).all() and frame["confidence"].is_between(0, 1).all()

    page = output(client, batch_id, "json", limit=5, offset=10).json()
    assert [record["input"] for record in page["results"]] == ROWS[10:15]
    assert page["columns"] == HEADER + RESULT_COLUMNS + TAIL


def test_include_input_false_gives_the_narrow_shape(client):
    batch_id = finished_upload(client)
    header, rows = csv_rows(client, batch_id, include_input="false")
    assert header == NARROW
    assert [row["id"] for row in rows] == [row["review_id"] for row in ROWS]
    assert all("input" not in record for record in jsonl_records(client, batch_id, include_input="false"))
    assert parquet_frame(client, batch_id, include_input="false").columns == NARROW
    assert "input" not in output(client, batch_id, "json", include_input="false").json()["results"][0]
    bad = client.get(f"/api/batches/{batch_id}/output", params={"format": "csv", "include_input": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "include_input"


def test_failed_rows_have_the_same_columns_as_completed_ones(client, clean_simulator):
    clean_simulator.configure(bad_json_rate=0.7)  # many items exhaust their repairs and fail, some do not
    batch_id = finished_upload(client)
    header, rows = csv_rows(client, batch_id)
    statuses = {row["status"] for row in rows}
    assert statuses == {"completed", "failed"}, statuses
    assert header == HEADER + RESULT_COLUMNS + TAIL
    failed = [row for row in rows if row["status"] == "failed"]
    assert all(row["error_type"] and row["label"] == "" and row["confidence"] == "" for row in failed)
    assert [{name: row[name] for name in HEADER} for row in rows] == ROWS

    records = jsonl_records(client, batch_id)
    assert len({tuple(record) for record in records}) == 1  # the same keys, completed or failed
    assert [record["input"] for record in records] == ROWS

    frame = parquet_frame(client, batch_id)
    assert frame.columns == HEADER + RESULT_COLUMNS + TAIL
    assert frame.filter(pl.col("status") == "failed")["label"].null_count() == len(failed)


def test_a_field_no_item_produced_is_still_a_typed_column(client, clean_simulator):
    clean_simulator.configure(bad_json_rate=1.0)  # every item fails
    fields = json.dumps([{"name": "segment", "type": "categorical", "valid_values": ["smb", "enterprise"]},
                         {"name": "seats", "type": "numeric"}, {"name": "tags", "type": "list"}])
    batch_id = finished_upload(client, data=csv_upload(ROWS[:6]), operation="enrich", categories="", fields=fields)
    frame = parquet_frame(client, batch_id)
    assert frame.columns == HEADER + ["segment", "seats", "tags"] + TAIL
    assert (frame["status"] == "failed").all() and frame.height == 6
    assert frame.schema["seats"] == pl.Float64 and frame.schema["tags"] == pl.List(pl.String)
    header, _ = csv_rows(client, batch_id)
    assert header == HEADER + ["segment", "seats", "tags"] + TAIL
    empty = parquet_frame(client, batch_id, offset=6)  # no rows, every column
    assert empty.height == 0 and empty.columns == frame.columns


def test_items_with_metadata_give_it_back_and_plain_items_stay_narrow(client):
    items = [{"content": f"t {i}", "id": f"i{i}", "metadata": {"team": f"t{i}", "n": i}} for i in range(3)]
    created = client.post("/api/batches", json={"operation": "classify", "categories": ["a", "b"], "items": items})
    batch_id = created.json()["batch_id"]
    wait_finished(client, batch_id)
    frame = parquet_frame(client, batch_id)
    assert frame.columns[:4] == ["content", "id", "team", "n"] and frame.schema["n"] == pl.Int64
    assert frame.select("content", "id", "team", "n").to_dicts() == [
        {"content": item["content"], "id": item["id"], **item["metadata"]} for item in items]

    plain = client.post("/api/batches", json={"operation": "summarize", "items": [{"content": "x"}]}).json()
    wait_finished(client, plain["batch_id"])
    assert csv_rows(client, plain["batch_id"])[0] == ["index", "id", "status", "result", "error_type",
                                                      "error_message", "attempts", "cached", "provider"]


def test_summary_counts_labels_groups_errors_and_charts_the_rate(client, clean_simulator):
    clean_simulator.configure(bad_json_rate=0.7)
    batch_id = finished_upload(client)
    summary = client.get(f"/api/batches/{batch_id}/summary").json()
    _, rows = csv_rows(client, batch_id)
    labels = [row["label"] for row in rows if row["status"] == "completed"]
    [values] = summary["values"]
    assert values["field"] == "label" and values["other_items"] == 0
    assert {count["value"]: count["items"] for count in values["counts"]} == {
        label: labels.count(label) for label in set(labels)}
    failed = [row for row in rows if row["status"] == "failed"]
    assert summary["errors"] == [{"type": failed[0]["error_type"], "items": len(failed),
                                  "example": summary["errors"][0]["example"]}]
    assert summary["errors"][0]["example"] in {row["error_message"] for row in failed}
    assert summary["throughput"] and all(point["items_per_second"] >= 0 for point in summary["throughput"])
    assert client.get("/api/batches/batch_0000000000000000000000/summary").status_code == 404
    assert "/api/batches/{batch_id}/summary" in client.get("/openapi.json").json()["paths"]
