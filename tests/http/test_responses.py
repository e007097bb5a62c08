"""Every answer is the model OpenAPI names for it, and nothing more: the document cannot drift from the code.

Each answer must validate against one of the models the document names for its
path, method and status, and serialise back to exactly itself (so a key the
model lacks, or a value of another shape, fails). Errors are `ErrorResponse`s,
and an unexpected failure is a clean 500 logged once with its traceback.
"""

import json
import logging

import pytest
from pydantic import ValidationError

from engine import models
from tests.http.test_api import make_client, wait_finished

ITEMS = [{"content": "great", "id": "a"}, {"content": "awful"}]
LABEL = {"operation": "label", "items": ITEMS, "categories": ["good", "bad"]}


@pytest.fixture
def client(tmp_path, clean_simulator):
    with make_client(tmp_path, clean_simulator, AGENTFLOW_API_KEYS="secret-key") as test_client:
        test_client.headers["authorization"] = "Bearer secret-key"
        yield test_client


def documented_models(document: dict, path: str, method: str, status: int) -> list[str]:
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return [option["$ref"].rsplit("/", 1)[1] for option in schema.get("oneOf", [schema])]


def is_exactly(name: str, body) -> bool:
    try:
        parsed = getattr(models, name).model_validate(body)
    except ValidationError:
        return False
    return parsed.model_dump(mode="json") == body


def check(document: dict, path: str, method: str, response, status: int):
    assert response.status_code == status, response.text
    names = documented_models(document, path, method, status)
    assert any(is_exactly(name, response.json()) for name in names), (names, response.json())
    return response.json()


def test_every_answer_is_its_documented_model(client):
    doc = client.get("/openapi.json").json()
    sync = client.post("/api/completions/label", json={k: v for k, v in LABEL.items() if k != "operation"})
    check(doc, "/api/completions/label", "post", sync, 200)
    created = check(doc, "/api/batches", "post", client.post("/api/batches", json=LABEL), 201)
    check(doc, "/api/batches", "post", client.post("/api/batches", json={**LABEL, "dry_run": True}), 200)
    upload = client.post("/api/files", data={"operation": "label", "categories": "good,bad"},
                         files={"file": ("a.csv", b"content\nhello\n")})
    check(doc, "/api/files", "post", upload, 201)
    batch = f"/api/batches/{created['batch_id']}"
    assert wait_finished(client, created["batch_id"])["status"] == "completed"
    check(doc, "/api/batches/{batch_id}", "get", client.get(batch), 200)
    check(doc, "/api/batches", "get", client.get("/api/batches"), 200)
    page = check(doc, "/api/batches/{batch_id}/output", "get", client.get(f"{batch}/output"), 200)
    assert page["results"][0]["id"] == "a" and "attempts" in page["results"][0]
    check(doc, "/api/batches/{batch_id}/cancel", "post", client.post(f"{batch}/cancel"), 409)
    big = client.post("/api/batches", json={**LABEL, "items": [{"content": f"x{i}"} for i in range(300)]})
    cancelled = check(doc, "/api/batches/{batch_id}/cancel", "post",
                      client.post(f"/api/batches/{big.json()['batch_id']}/cancel"), 200)
    assert cancelled["reason"] == "cancelled"
    check(doc, "/api/batches/{batch_id}/retry", "post", client.post(f"{batch}/retry"), 409)
    check(doc, "/api/batches/{batch_id}", "get", client.get("/api/batches/batch_doesnotexist123"), 404)
    check(doc, "/api/batches", "post", client.post("/api/batches", json={**LABEL, "categories": []}), 422)
    check(doc, "/api/batches", "get", client.get("/api/batches", headers={"authorization": "Bearer no"}), 401)


def test_a_status_leaves_out_what_it_does_not_have(client):
    created = client.post("/api/batches", json=LABEL).json()
    status = wait_finished(client, created["batch_id"])
    assert "reason" not in status and "error" not in status  # absent, not null, as the API always answered
    assert status["eta_seconds"] is None and "estimated_cost" in status  # these are null when unknown


def test_an_unexpected_failure_is_a_clean_500_logged_once_with_its_traceback(client, tmp_path, caplog):
    created = client.post("/api/batches", json=LABEL).json()
    wait_finished(client, created["batch_id"])
    (tmp_path / "batches" / created["batch_id"] / "meta.json").write_text("{not json")  # a broken store
    with caplog.at_level(logging.ERROR, logger="agentflow.http"):
        response = client.get(f"/api/batches/{created['batch_id']}")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["type"] == "internal_error" and "incident" in body["error"]["message"]
    assert "Traceback" not in response.text and "JSONDecodeError" not in response.text
    records = [r for r in caplog.records if r.name == "agentflow.http"]
    assert len(records) == 1 and records[0].exc_info and records[0].exc_info[0] is json.JSONDecodeError
    assert body["error"]["message"].split("incident ")[1].rstrip(")") in records[0].getMessage()
    assert "secret-key" not in caplog.text
