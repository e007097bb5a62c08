"""API keys, tenant isolation, size limits and log hygiene, on a service of its own."""

import logging
from pathlib import Path

import httpx
import pytest
import ray

from tests.fixtures import own_service, service_settings

pytestmark = pytest.mark.integration

KEY_A, KEY_B = "tenant-a-secret-key-4f9d", "tenant-b-secret-key-8c1e"
CONTENT_MARKER = "CONTENT-MARKER-7d3a1"


@pytest.fixture(scope="module")
def secured(ray_session, simulator, tmp_path_factory):
    settings = service_settings(simulator, tmp_path_factory.mktemp("secure-store"),
                                AGENTFLOW_API_KEYS=f"{KEY_A},{KEY_B}", AGENTFLOW_MAX_BODY_BYTES="20000",
                                AGENTFLOW_MAX_UPLOAD_BYTES="50000")
    with own_service(settings, "secure", with_batches=True) as url:
        yield url


def auth(key):
    return {"authorization": f"Bearer {key}"}


def label_body(n=2):
    return {"items": [{"content": f"{CONTENT_MARKER} {i}"} for i in range(n)], "categories": ["a", "b"]}


def test_every_api_route_needs_a_valid_key(secured):
    routes = [("POST", "/api/completions/label"), ("POST", "/api/batches"), ("GET", "/api/batches"),
              ("GET", "/api/batches/batch_abcdefgh12345"), ("GET", "/api/batches/batch_abcdefgh12345/output"),
              ("POST", "/api/batches/batch_abcdefgh12345/cancel"), ("POST", "/api/batches/batch_abcdefgh12345/retry"),
              ("POST", "/api/files")]
    for method, path in routes:
        for headers in ({}, auth("wrong-key"), {"authorization": f"Basic {KEY_A}"}):
            response = httpx.request(method, f"{secured}{path}", headers=headers, json=label_body(), timeout=30)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error"]["type"] == "unauthorized"
    assert httpx.get(f"{secured}/healthz", timeout=10).status_code == 200
    ok = httpx.post(f"{secured}/api/completions/label", json=label_body(), headers=auth(KEY_A), timeout=30)
    assert ok.status_code == 200


def test_a_batch_exists_only_for_the_key_that_made_it(secured):
    body = {"operation": "label", **label_body(3)}
    batch_id = httpx.post(f"{secured}/api/batches", json=body, headers=auth(KEY_A), timeout=30).json()["batch_id"]
    for method, suffix in (("GET", ""), ("GET", "/output"), ("POST", "/cancel"), ("POST", "/retry")):
        other = httpx.request(method, f"{secured}/api/batches/{batch_id}{suffix}", headers=auth(KEY_B), timeout=30)
        assert other.status_code == 404, (suffix, other.text)
    listed = httpx.get(f"{secured}/api/batches", headers=auth(KEY_B), timeout=30).json()["batches"]
    assert batch_id not in [b["batch_id"] for b in listed]
    mine = httpx.get(f"{secured}/api/batches", headers=auth(KEY_A), timeout=30).json()["batches"]
    assert batch_id in [b["batch_id"] for b in mine]
    assert httpx.get(f"{secured}/api/batches/{batch_id}", headers=auth(KEY_A), timeout=30).status_code == 200
    # The same Idempotency-Key from another tenant is another tenant's key.
    key = {"Idempotency-Key": "shared-key"}
    first = httpx.post(f"{secured}/api/batches", json=body, headers={**auth(KEY_A), **key}, timeout=30).json()
    second = httpx.post(f"{secured}/api/batches", json=body, headers={**auth(KEY_B), **key}, timeout=30).json()
    assert first["batch_id"] != second["batch_id"]


def test_store_keeps_no_raw_api_key(secured, tmp_path_factory):
    root = Path(tmp_path_factory.getbasetemp())
    for path in root.rglob("*.json"):
        text = path.read_text(errors="ignore")
        assert KEY_A not in text and KEY_B not in text, path


def test_body_and_upload_limits_give_413(secured):
    big = {"operation": "label", "categories": ["a"], "items": [{"content": "x" * 30_000}]}
    response = httpx.post(f"{secured}/api/batches", json=big, headers=auth(KEY_A), timeout=30)
    assert response.status_code == 413 and response.json()["error"]["type"] == "payload_too_large"
    upload = httpx.post(f"{secured}/api/files", headers=auth(KEY_A), timeout=30,
                        data={"operation": "label", "categories": "a,b"},
                        files={"file": ("big.csv", b"content\n" + b"y" * 200_000 + b"\n", "text/csv")})
    assert upload.status_code == 413, upload.text


def test_no_key_or_content_in_logs(secured, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    httpx.post(f"{secured}/api/completions/label", json=label_body(), headers=auth(KEY_A), timeout=30)
    httpx.post(f"{secured}/api/completions/label", json={"items": "bad"}, headers=auth(KEY_A), timeout=30)
    httpx.get(f"{secured}/api/batches", headers=auth("not-a-key-0451"), timeout=30)
    secrets = (KEY_A, "not-a-key-0451", "test-key", CONTENT_MARKER)  # test-key: the provider key
    for record in caplog.records:
        assert not any(s in record.getMessage() for s in secrets), record.getMessage()
    logs = Path(ray._private.worker.global_worker.node.get_session_dir_path()) / "logs"
    for path in logs.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="ignore")
            for secret in secrets:
                assert secret not in text, (secret, path)
