"""The /v1 routes without Ray: auth, tenants, and 4xx for bad input (TestClient on create_app)."""

import json

import pytest

from tests.http.test_api import make_client

LINE = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}})


def bearer(key):
    return {"authorization": f"Bearer {key}"}


@pytest.fixture
def client(tmp_path, clean_simulator):
    with make_client(tmp_path, clean_simulator, AGENTFLOW_API_KEYS="k1,k2") as test_client:
        yield test_client


def test_tenants_see_only_their_own_files_and_batches(client):
    assert client.get("/v1/files").status_code == 401
    file_id = client.post("/v1/files", files={"file": ("r.jsonl", LINE.encode())}, data={"purpose": "batch"},
                          headers=bearer("k1")).json()["id"]
    create = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert client.post("/v1/batches", json=create, headers=bearer("k2")).status_code == 404
    batch_id = client.post("/v1/batches", json=create, headers=bearer("k1")).json()["id"]
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content", f"/v1/batches/{batch_id}",
                 f"/v1/files/file-{batch_id}-output/content"):
        assert client.get(path, headers=bearer("k2")).status_code == 404, path
        assert client.get(path, headers=bearer("k1")).status_code == 200, path
    assert client.post(f"/v1/batches/{batch_id}/cancel", headers=bearer("k2")).status_code == 404
    assert client.get("/v1/batches", headers=bearer("k2")).json()["data"] == []
    assert client.get("/v1/files", headers=bearer("k2")).json()["data"] == []


def test_bad_requests_name_their_field(client):
    headers = bearer("k1")
    no_purpose = client.post("/v1/files", files={"file": ("r.jsonl", b"x")}, data={"purpose": "fine-tune"},
                             headers=headers)
    assert no_purpose.status_code == 422 and no_purpose.json()["error"]["field"] == "purpose"
    no_file = client.post("/v1/files", files={"other": ("r.jsonl", b"x")}, data={"purpose": "batch"}, headers=headers)
    assert no_file.status_code == 422 and no_file.json()["error"]["field"] == "file"
    for body, field in [({"endpoint": "/v1/chat/completions"}, "input_file_id"),
                        ({"input_file_id": "file-x", "endpoint": "/v1/images"}, "endpoint")]:
        response = client.post("/v1/batches", json=body, headers=headers)
        assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert client.get("/v1/batches", params={"limit": 0}, headers=headers).status_code == 422
    assert client.get("/v1/batches/batch_nosuchbatch1", headers=headers).status_code == 404
