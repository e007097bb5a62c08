"""The OpenAI Batch API driven by the official `openai` SDK only, against the real service and the simulator."""

import json
import time

import jsonschema
import pytest
from openai import OpenAI

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["pos", "neg"]},
                                           "score": {"type": "integer"}},
          "required": ["sentiment", "score"], "additionalProperties": False}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "review", "schema": SCHEMA, "strict": True}}
ENDED = ("completed", "failed", "cancelled", "expired")


def request_line(custom_id: str, text: str, **body) -> str:
    body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": text}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def client_of(url: str, api_key: str = "unused") -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=120)


def submit(client: OpenAI, lines: list[str], **options):
    uploaded = client.files.create(file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                 completion_window="24h", **options)


def wait(client: OpenAI, batch_id: str, until=ENDED, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until or time.monotonic() > deadline:
            return batch
        time.sleep(0.3)


def lines_of(client: OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_a_batch_file_runs_with_every_custom_id_once_and_schemas_kept(service, clean_simulator):
    client = client_of(service)
    lines = [request_line(f"plain-{i}", f"say hello {i}", temperature=0.2, max_tokens=50) for i in range(60)]
    lines += [request_line(f"schema-{i}", f"review {i}: great", response_format=JSON_SCHEMA) for i in range(60)]
    lines += [request_line(f"bad-{i}", "x", response_format={"type": "bogus"}) for i in range(5)]  # the provider's 400
    batch = submit(client, lines, metadata={"team": "search"})
    assert batch.status in ("validating", "in_progress") and batch.metadata == {"team": "search"}

    final = wait(client, batch.id)
    assert final.status == "completed", final
    assert (final.request_counts.total, final.request_counts.completed, final.request_counts.failed) == (125, 120, 5)
    assert final.completed_at and final.in_progress_at and final.usage.total_tokens > 0

    output, errors = lines_of(client, final.output_file_id), lines_of(client, final.error_file_id)
    ids = [line["custom_id"] for line in output + errors]
    assert sorted(ids) == sorted(json.loads(line)["custom_id"] for line in lines)  # every custom_id exactly once
    assert {line["custom_id"] for line in errors} == {f"bad-{i}" for i in range(5)}
    assert all(line["error"]["message"] and line["response"] is None for line in errors)
    for line in output:
        assert line["error"] is None and line["response"]["status_code"] == 200
        completion = line["response"]["body"]
        assert completion["object"] == "chat.completion"
        if line["custom_id"].startswith("schema-"):
            jsonschema.validate(json.loads(completion["choices"][0]["message"]["content"]), SCHEMA)

    # The same batch, seen through AgentFlow's own API.
    import httpx

    ours = httpx.get(f"{service}/api/batches/{batch.id}", timeout=30).json()
    assert ours["operation"] == "chat" and ours["completed_items"] == 120


def test_batches_list_pages_with_after_and_has_more(service, clean_simulator):
    client = client_of(service)
    made = [submit(client, [request_line("only", f"batch {n}")]).id for n in range(3)]
    first = client.batches.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    assert [b.id for b in first.data] == made[::-1][:2]  # newest first
    second = client.batches.list(limit=2, after=first.data[-1].id)
    assert second.data[0].id == made[0]
    listed = [b.id for b in client.batches.list(limit=2)]  # the SDK follows the pages itself
    assert set(made) <= set(listed) and len(listed) == len(set(listed))


def test_cancel_of_a_3000_line_batch_keeps_its_completed_lines(service, clean_simulator):
    clean_simulator.configure(latency_ms=150)
    client = client_of(service)
    lines = [request_line(f"r{i}", f"item {i}") for i in range(3000)]
    batch = submit(client, lines)
    deadline = time.monotonic() + 120
    while client.batches.retrieve(batch.id).request_counts.completed < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at

    final = wait(client, batch.id)
    assert final.status == "cancelled" and final.cancelled_at
    output, errors = lines_of(client, final.output_file_id), lines_of(client, final.error_file_id)
    assert 200 <= len(output) == final.request_counts.completed < 3000
    assert all(line["response"]["status_code"] == 200 for line in output)
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    ids = [line["custom_id"] for line in output + errors]
    assert sorted(ids) == sorted(f"r{i}" for i in range(3000))  # each line once: done, or cancelled


def test_a_malformed_file_fails_with_line_numbers_and_no_call(service, clean_simulator):
    client = client_of(service)
    lines = [request_line("a", "fine"), "{not json", request_line("a", "same id"),
             json.dumps({"custom_id": "c", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}),
             request_line("d", "streams", stream=True)]
    batch = submit(client, lines)
    assert batch.status == "failed" and batch.failed_at
    found = {(error.line, error.code) for error in batch.errors.data}
    assert {(2, "invalid_json_line"), (3, "duplicate_custom_id"), (4, "invalid_url"),
            (5, "invalid_parameter")} <= found
    assert client.batches.retrieve(batch.id).status == "failed"
    assert clean_simulator.stats()["accepted"] == 0


def test_files_are_listed_downloaded_and_deleted(service):
    client = client_of(service)
    content = (request_line("x", "hello") + "\n").encode()
    uploaded = client.files.create(file=("mine.jsonl", content), purpose="batch")
    assert (uploaded.object, uploaded.purpose, uploaded.bytes, uploaded.filename) == ("file", "batch", len(content),
                                                                                      "mine.jsonl")
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert uploaded.id in [f.id for f in client.files.list()]
    assert client.files.content(uploaded.id).content == content
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(Exception) as lost:
        client.files.retrieve(uploaded.id)
    assert getattr(lost.value, "status_code", None) == 404
