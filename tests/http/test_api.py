"""The HTTP layer without Ray: TestClient on create_app over an in-process service.

The provider is the session's simulator process on a loopback port; the
callers are a plain `Caller` (LocalCallerPool) and batches run on a
LocalBatchRunner, on the TestClient's event loop.
"""

import time
from contextlib import contextmanager

import pytest
from starlette.testclient import TestClient

from engine.batch.calls import LocalCallerPool
from engine.batch.service import BatchService, LocalBatchRunner
from engine.batch.sync import SyncService
from engine.config import Settings
from engine.limits import Limits
from engine.provider.caller import Caller
from engine.provider.client import ChatClient, ProviderSession
from engine.provider.factory import retry_policy
from engine.provider.leases import Lease, LocalLimiterBackend
from engine.store.batch_store import BatchStore
from serve_app.api import create_app


@contextmanager
def make_client(tmp_path, simulator, **env):
    settings = Settings.from_env({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": simulator.base_url,
                                  "AGENTFLOW_STORE": str(tmp_path), **env})
    http = ProviderSession(max_connections=16)
    lease = Lease(LocalLimiterBackend(Limits()))
    caller = Caller(lambda p: ChatClient(http, p.base_url, p.api_key), lambda p: lease, retry_policy(settings), 16)
    pool = LocalCallerPool(caller)
    batches = BatchService(settings, BatchStore(settings.store), LocalBatchRunner(settings, BatchStore(settings.store), pool))
    with TestClient(create_app(SyncService(settings, pool), batches)) as test_client:
        yield test_client
        test_client.portal.call(http.close)  # its session lives on the TestClient's loop


@pytest.fixture
def client(tmp_path, clean_simulator):
    with make_client(tmp_path, clean_simulator) as test_client:
        yield test_client


def test_health_openapi_and_a_sync_call(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "/api/batches/{batch_id}/events" in client.get("/openapi.json").json()["paths"]
    response = client.post("/api/completions/label", json={"items": [{"content": "x", "id": "1"}], "categories": ["a", "b"]})
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == "1" and response.json()["model"] == "sim/gpt-4.1-mini"


@pytest.mark.parametrize("body,status,field", [
    (b"{not json", 400, "body"),
    (b"", 400, "body"),
    (b'{"items": [{"content": "x"}], "categories": []}', 422, "categories"),
    (b'{"items": [{"content": "x"}], "categories": ["a"], "surprise": 1}', 422, "surprise"),
    (b'{"items": [{"content": "x"}], "categories": ["a", "a"]}', 422, "categories"),
])
def test_error_contract(client, body, status, field):
    response = client.post("/api/completions/label", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]["field"] == field


ITEM = [{"content": "x"}]


@pytest.mark.parametrize("body,field,says", [
    ({"items": ITEM, "categories": ["a"]}, "operation", "operation is required: one of classify, label"),
    ({"operation": "translate", "items": ITEM}, "operation", "'translate' is unknown: one of classify"),
    ({"operation": "classify", "items": ITEM}, "categories", "Field required"),
    ({"operation": "summarize", "items": [{"content": 3}]}, "items.0.content", "valid string"),
    ({"operation": "label", "items": ITEM, "categories": [1]}, "categories", "entry 0 must be a category name"),
    ({"operation": "label", "items": ITEM, "categories": [{"nme": "a"}]}, "categories", "entry 0: name: Field"),
    ({"operation": "enrich", "items": ITEM, "fields": [{"name": "seg", "type": "categorical"}]},
     "fields.0.valid_values", "'seg' needs valid_values"),
    ({"operation": "run", "items": [{"content": "x", "metadata": {"product": "p"}}, {"content": "y"}],
      "user_prompt_template": "{product}: {content}"}, "items.1.metadata.product", "{product} is not in items[1]"),
])
def test_batch_errors_name_the_field(client, body, field, says):
    response = client.post("/api/batches", json=body)
    error = response.json()["error"]
    assert response.status_code == 422 and error["field"] == field and says in error["message"], error
    assert client.get("/api/batches").json()["batches"] == []  # nothing stored


def test_unknown_routes_and_methods_are_json(client):
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    wrong = client.get("/api/completions/label")
    assert wrong.status_code == 405 and "error" in wrong.json()


def wait_finished(client, batch_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(f"/api/batches/{batch_id}").json()
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.05)  # the runner's task progresses on the client's loop meanwhile
    return status


def test_batch_round_trip_in_process(client):
    created = client.post("/api/batches", json={"operation": "summarize", "items": [{"content": f"t {i}"} for i in range(5)]})
    assert created.status_code == 201
    batch_id = created.json()["batch_id"]
    status = wait_finished(client, batch_id)
    assert status["status"] == "completed" and status["completed_items"] == 5
    csv = client.get(f"/api/batches/{batch_id}/output", params={"format": "csv"}).text.splitlines()
    assert csv[0].startswith("index,id,status") and len(csv) == 6


def test_auth_when_keys_are_set(tmp_path, clean_simulator):
    with make_client(tmp_path, clean_simulator, AGENTFLOW_API_KEYS="k1") as client:
        body = {"items": [{"content": "x"}], "categories": ["a"]}
        assert client.post("/api/completions/label", json=body).status_code == 401
        ok = client.post("/api/completions/label", json=body, headers={"authorization": "Bearer k1"})
        assert ok.status_code == 200


def test_upload_framing_and_limits_are_4xx(tmp_path, clean_simulator):
    """POST /api/files reads the multipart body itself: bad framing and limits are clear 4xx, never 500."""
    with make_client(tmp_path, clean_simulator, AGENTFLOW_MAX_UPLOAD_BYTES="1000") as client:
        form = {"operation": "label", "categories": "a,b"}
        ok = client.post("/api/files", data=form, files={"file": ("a.csv", b"content\nhello\n")})
        assert ok.status_code == 201 and ok.json()["total_items"] == 1, ok.text
        cut = client.post("/api/files", content=b"--B\r\nContent-Disposition: form-data; name=\"file\"; "
                          b"filename=\"a.csv\"\r\n\r\ncontent\nhello\n",
                          headers={"content-type": "multipart/form-data; boundary=B"})
        assert cut.status_code == 400 and "closing boundary" in cut.json()["error"]["message"]
        big_file = client.post("/api/files", data=form, files={"file": ("a.csv", b"content\n" + b"x\n" * 600)})
        assert big_file.status_code == 413 and big_file.json()["error"]["field"] == "file"
        big_field = client.post("/api/files", data={**form, "user_prompt_template": "x" * (1024 * 1024 + 1)},
                                files={"file": ("a.csv", b"content\nhello\n")})
        assert big_field.status_code == 413
        assert not list((tmp_path / "uploads").iterdir())  # no temporary file is left behind


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, dict]:
    """A multipart body with the parts in this order: (name, filename or None, value)."""
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + b"--B--\r\n", {"content-type": "multipart/form-data; boundary=B"}


def test_upload_fields_after_the_file_are_honoured(client):
    """The file is parsed while it arrives with the fields sent before it; a field after it restarts that."""
    csv = b"text,ref\nhello,r1\nworld,r2\n"
    body, headers = multipart(("operation", None, b"label"), ("categories", None, b"a,b"),
                              ("file", "in.csv", csv), ("content_column", None, b"text"), ("dry_run", None, b"true"))
    late = client.post("/api/files", content=body, headers=headers)
    assert late.status_code == 200 and late.json()["dry_run"] and late.json()["total_items"] == 2, late.text
    body, headers = multipart(("operation", None, b"label"), ("categories", None, b"a,b"), ("file", "in.csv", csv))
    ambiguous = client.post("/api/files", content=body, headers=headers)  # two text columns, no content_column
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["field"] == "content_column"
    body, headers = multipart(("operation", None, b"label"), ("categories", None, b"a,b"),
                              ("file", "bad.csv", b"content,team\na,1\nb,2,3\n"))
    bad = client.post("/api/files", content=body, headers=headers)
    assert bad.status_code == 422 and "line 3" in bad.json()["error"]["message"]


def test_upload_with_an_idempotency_key_is_created_once(client):
    form, files = {"operation": "label", "categories": "a,b"}, {"file": ("a.csv", b"content\nhello\n")}
    first = client.post("/api/files", data=form, files=files, headers={"idempotency-key": "k1"})
    again = client.post("/api/files", data=form, files=files, headers={"idempotency-key": "k1"})
    assert first.status_code == 201 and again.status_code == 200, (first.text, again.text)
    assert again.json()["batch_id"] == first.json()["batch_id"]


def test_an_idempotency_key_is_free_again_once_its_batch_is_deleted(client, tmp_path):
    body = {"operation": "summarize", "items": [{"content": "x"}]}
    first = client.post("/api/batches", json=body, headers={"idempotency-key": "daily-run"})
    assert first.status_code == 201 and wait_finished(client, first.json()["batch_id"])["status"] == "completed"
    BatchStore(tmp_path).delete(first.json()["batch_id"])  # as its retention ending does
    again = client.post("/api/batches", json=body, headers={"idempotency-key": "daily-run"})
    assert again.status_code == 201 and again.json()["batch_id"] != first.json()["batch_id"], again.text
