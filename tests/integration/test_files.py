"""POST /api/files: every format becomes a batch; every bad file gets a 422 that says why."""

import io
import json

import httpx
import polars as pl
import pytest

from tests.integration.test_batches import wait_for

pytestmark = pytest.mark.integration


def upload(service, filename, data, **fields):
    fields = {"operation": "classify", "categories": "good,bad", **fields}
    return httpx.post(f"{service}/api/files", data=fields, files={"file": (filename, data)}, timeout=120)


def finished_records(service, response, expected):
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued" and created["total_items"] == expected
    final = wait_for(service, created["batch_id"])
    assert final["completed_items"] == expected, final
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", params={"limit": 10000}, timeout=60)
    return page.json()["results"]


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


ROWS = [{"content": f"row {i} text", "team": f"t{i}"} for i in range(5)]
FORMATS = {
    "items.csv": "content,team\n" + "".join(f"{r['content']},{r['team']}\n" for r in ROWS),
    "items.tsv": "content\tteam\n" + "".join(f"{r['content']}\t{r['team']}\n" for r in ROWS),
    "items.json": json.dumps(ROWS),
    "wrapped.json": json.dumps({"items": ROWS}),
    "items.jsonl": "".join(json.dumps(r) + "\n" for r in ROWS),
    "items.parquet": parquet_bytes(pl.DataFrame(ROWS)),
}


@pytest.mark.parametrize("filename", sorted(FORMATS))
def test_every_format_becomes_a_batch_with_metadata_usable_in_templates(service, clean_simulator, filename):
    data = FORMATS[filename]
    response = upload(service, filename, data.encode() if isinstance(data, str) else data,
                      user_prompt_template="Team {team}: {content}")
    records = finished_records(service, response, 5)
    assert [r["index"] for r in records] == list(range(5))
    assert all(r["status"] == "completed" and r["result"]["label"] in ("good", "bad") for r in records)


def test_without_an_extension_the_content_type_gives_the_format(service, clean_simulator):
    # Sniffed, this TSV would be plain text: one column, and no {team} for the template.
    fields = {"operation": "classify", "categories": "good,bad", "user_prompt_template": "Team {team}: {content}"}
    response = httpx.post(f"{service}/api/files", data=fields, timeout=120,
                          files={"file": ("export", FORMATS["items.tsv"].encode(), "text/tab-separated-values")})
    records = finished_records(service, response, 5)
    assert [r["index"] for r in records] == list(range(5))


def test_plain_text_is_one_item_per_non_empty_line(service, clean_simulator):
    records = finished_records(service, upload(service, "notes.txt", b"first\n\nsecond\nthird\n"), 3)
    assert len(records) == 3


def test_form_options(service, clean_simulator):
    csv = b"text,ref,lang,extra\nhello,r1,en,x\nbonjour,r2,fr,y\n"
    response = upload(service, "opts.csv", csv, operation="label", categories='["a", "b"]', multi_label="true",
                      content_column="text", id_column="ref", metadata_columns="lang",
                      user_prompt_template="[{lang}] {content}")
    records = finished_records(service, response, 2)
    assert [r["id"] for r in records] == ["r1", "r2"]
    assert all(set(r["result"]["labels"]) <= {"a", "b"} for r in records)
    fields = json.dumps([{"name": "tone", "type": "categorical", "valid_values": ["warm", "cold"]}])
    enriched = finished_records(service, upload(service, "e.csv", b"content\nhi\n", operation="enrich",
                                                fields=fields, categories=""), 1)
    assert enriched[0]["result"]["tone"] in ("warm", "cold")


@pytest.mark.parametrize("filename,data,expect", [
    ("ragged.csv", b"content,team\na,1\nb,2,3\nc,4\n", "line 3"),
    ("short.csv", b"content,team\na,1\nb\n", "line 3"),
    ("latin1.csv", "content\ncaf\u00e9\n".encode("latin-1"), "UTF-8"),
    ("empty.csv", b"", "no items"),
    ("header-only.csv", b"content,team\n", "no items"),
    ("not-a-list.json", b'{"a": 1}', "items"),
    ("number.json", b"42", "JSON"),
    ("bad.jsonl", b'{"content": "a"}\n{"content": \n', "line 2"),
    ("two-text-columns.csv", b"title,body\na,b\n", "title"),
    ("no-content.csv", b"n,m\n1,2\n", "n, m"),
    ("sheet.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00", "binary"),
    ("items.txt", b"\xff\xfec\x00o\x00", "UTF-8"),  # UTF-16 text
    ("template.csv", b"content,team\na,1\n", "{region}"),  # a template field no column gives
])
def test_bad_files_get_422_with_the_reason(service, filename, data, expect):
    template = {"user_prompt_template": "{region}: {content}"} if filename == "template.csv" else {}
    response = upload(service, filename, data, **template)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert expect in message, message


def test_bad_form_fields(service):
    for fields, field in [({"operation": "translate"}, "operation"), ({"multi_label": "maybe"}, "multi_label"),
                          ({"categories": "[not json"}, "categories"), ({"content_column": "nope"}, "content_column")]:
        response = upload(service, "ok.csv", b"content\nhello\n", **fields)
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["error"]["field"] == field, response.json()
    no_file = httpx.post(f"{service}/api/files", data={"operation": "label"}, files={"other": ("x", b"y")}, timeout=30)
    assert no_file.status_code == 422 and no_file.json()["error"]["field"] == "file"
    not_multipart = httpx.post(f"{service}/api/files", json={"operation": "label"}, timeout=30)
    assert not_multipart.status_code == 422
