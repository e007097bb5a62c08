"""Named bad-input cases from the reliability issue, against the real service."""

import json

import httpx
import pytest

from tests.integration.test_batches import wait_for
from tests.integration.test_files import finished_records, upload

pytestmark = pytest.mark.integration


def post(service, path, body):
    return httpx.post(f"{service}{path}", json=body, timeout=120)


def test_wrong_types_name_the_field(service):
    cases = [
        ({"items": "not a list", "categories": ["a"]}, "items"),
        ({"items": [{"content": "x"}], "categories": "a,b"}, "categories"),
        ({"items": [{"content": "x"}], "categories": ["a"], "multi_label": "sometimes"}, "multi_label"),
        ({"items": [{"content": "x", "metadata": [1, 2]}], "categories": ["a"]}, "items.0.metadata"),
        ({"items": [{"content": "x"}], "categories": ["a"], "temperature": "hot"}, "temperature"),
        ({"items": [{"content": "x"}], "categories": ["a"], "temperature": 9}, "temperature"),
    ]
    for body, field in cases:
        response = post(service, "/api/completions/label", body)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, response.text


def test_unknown_operation_and_empty_items(service):
    unknown = post(service, "/api/batches", {"operation": "translate", "items": [{"content": "x"}]})
    assert unknown.status_code == 422 and "operation" in unknown.json()["error"]["message"]
    empty = post(service, "/api/completions/summarize", {"items": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "items"


def test_one_10_mb_item_is_refused_naming_the_limit(service):
    response = post(service, "/api/completions/summarize", {"items": [{"content": "x" * 10_000_000}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "items.0.content" and "1000000" in error["message"]


def test_unicode_emoji_and_nul_characters_survive(service, clean_simulator):
    texts = ["naïve café 東京 😀🚀", "zero\u0000width\u200bjoiner", "right-to-left \u202e text", "\ud7ff edge"]
    body = {"operation": "summarize", "items": [{"content": t, "id": t} for t in texts]}
    created = post(service, "/api/batches", body).json()
    wait_for(service, created["batch_id"])
    page = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", timeout=30).json()
    assert [r["id"] for r in page["results"]] == texts  # ids come back byte for byte
    assert all(r["status"] == "completed" for r in page["results"])
    lines = httpx.get(f"{service}/api/batches/{created['batch_id']}/output", params={"format": "jsonl"},
                      timeout=30).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == texts


def test_thousands_of_columns(service, clean_simulator):
    columns = ["content"] + [f"c{i}" for i in range(3000)]
    rows = [",".join(columns)] + [",".join([f"text {r}"] + [str(i) for i in range(3000)]) for r in range(3)]
    records = finished_records(service, upload(service, "wide.csv", ("\n".join(rows) + "\n").encode(),
                                               user_prompt_template="{content} / {c2999}"), 3)
    assert len(records) == 3
