"""engine.batch.openai_format and openai_objects: line checks, output and error lines, the Batch shape. No Ray."""

import json

import polars as pl

from engine.batch import openai_format as fmt
from engine.batch.openai_batches import check_request, routed_model
from engine.batch.openai_objects import batch_object, result_file
from engine.errors import InvalidRequest
from engine.models import ChatParams
from engine.prompt.exchange import parse_result, request_body
from engine.prompt.operations import prepare

URL = "/v1/chat/completions"


def line(custom_id="a", url=URL, **body):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}).encode()


def codes(report):
    return [(e["line"], e["code"]) for e in report.errors]


def test_a_good_file_has_no_errors_and_one_model():
    report = fmt.check_lines([line("a"), b"\n", line("b")], URL)
    assert (report.requests, report.errors, report.models) == (2, [], {"m"})


def test_each_bad_line_is_named_by_its_number():
    lines = [line("a"), b"{nope", b"[1]", line("a"), line("c", url="/v1/embeddings"), line("d", stream=True),
             json.dumps({"custom_id": "e", "url": URL, "body": {"model": "m"}}).encode(),
             json.dumps({"url": URL, "body": {"model": "m", "messages": [{}]}}).encode()]
    report = fmt.check_lines(lines, URL)
    assert codes(report) == [(2, "invalid_json_line"), (3, "invalid_json_line"), (4, "duplicate_custom_id"),
                             (5, "invalid_url"), (6, "invalid_parameter"), (7, "missing_required_parameter"),
                             (8, "invalid_custom_id")]
    assert report.errors[3]["param"] == "url"


def test_models_must_agree_and_errors_are_capped():
    assert ("mismatched_model" in [e["code"] for e in fmt.check_lines([line("a"), line("b", model="n")], URL).errors])
    report = fmt.check_lines([b"{"] * (fmt.MAX_ERRORS + 5), URL)
    assert len(report.errors) == fmt.MAX_ERRORS and report.error_count == fmt.MAX_ERRORS + 5


def test_item_frames_hold_the_body_and_the_custom_id():
    frame = next(fmt.item_frames([line("a", temperature=0.5), b"  \n", line("b")]))
    assert frame["id"].to_list() == ["a", "b"]
    assert json.loads(frame["content"][0])["temperature"] == 0.5


def outcome_frame():
    return pl.DataFrame({
        "index": [0, 1, 2, 3], "id": ["a", "b", "c", "d"], "status": ["completed", "failed", "cancelled", "pending"],
        "result": ['{"id":"x","object":"chat.completion"}', None, None, None],
        "error_type": [None, "provider_http_error", "cancelled", None],
        "error_message": [None, "provider answered 400: no", "the batch was cancelled", None],
        "attempts": [1, 1, 0, 0], "cached": [False] * 4})


def test_output_and_error_lines():
    out = [json.loads(x) for x in fmt.output_lines(outcome_frame(), "batch_x").splitlines()]
    assert out == [{"id": out[0]["id"], "custom_id": "a", "error": None,
                    "response": {"status_code": 200, "request_id": out[0]["response"]["request_id"],
                                 "body": {"id": "x", "object": "chat.completion"}}}]
    assert out[0]["id"] == fmt.request_ids("batch_x", 0)[0]  # the same on every download
    errors = [json.loads(x) for x in fmt.error_lines(outcome_frame(), "batch_x").splitlines()]
    assert [(e["custom_id"], e["error"]["code"], e["response"]) for e in errors] == [
        ("b", "provider_http_error", None), ("c", "batch_cancelled", None)]


def test_the_chat_operation_passes_the_body_through():
    plan = prepare("chat", ChatParams(model="openai/m"))
    body = {"model": "gpt", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}}
    item = {"index": 0, "content": json.dumps(body)}
    assert request_body(plan, "own-name", [], item=item) == {**body, "model": "own-name"}
    completion = {"id": "c", "choices": []}
    assert parse_result(plan, "", None, completion) is completion


def test_models_route_to_the_default_or_a_configured_provider():
    providers = {"openai": None, "local": None}
    assert routed_model("openai/gpt-4.1-mini", providers, "gpt-4.1-mini") == "openai/gpt-4.1-mini"
    assert routed_model("openai/gpt-4.1-mini", providers, "local/llama") == "local/llama"
    assert routed_model("openai/gpt-4.1-mini", providers, "meta-llama/Llama-3") == "openai/meta-llama/Llama-3"


def test_the_create_request_is_checked_field_by_field():
    good = {"input_file_id": "file-1", "endpoint": URL, "completion_window": "24h"}
    assert check_request(good)["metadata"] is None
    for change, field in [({"endpoint": "/v1/embeddings"}, "endpoint"), ({"completion_window": "1h"},
                          "completion_window"), ({"metadata": {"k": 1}}, "metadata"), ({"input_file_id": ""},
                          "input_file_id")]:
        try:
            check_request({**good, **change})
        except InvalidRequest as exc:
            assert exc.field == field
        else:
            raise AssertionError(f"{change} was accepted")


def test_batch_object_follows_openai():
    meta = {"batch_id": "batch_abcdefgh", "status": "cancelled", "created_at": 10.5, "started_at": 11.0,
            "finished_at": 20.0, "total_items": 3, "completed_items": 1, "failed_items": 0, "cancelled_items": 2,
            "usage": {"prompt_tokens": 5, "completion_tokens": 7},
            "openai": {"input_file_id": "file-1", "endpoint": URL, "completion_window": "24h", "model": "m",
                       "metadata": {"k": "v"}, "cancelling_at": 15.0}}
    batch = batch_object(meta)
    assert (batch["status"], batch["cancelled_at"], batch["cancelling_at"], batch["completed_at"]) == (
        "cancelled", 20, 15, None)
    assert batch["request_counts"] == {"total": 3, "completed": 1, "failed": 0}
    assert batch["usage"]["total_tokens"] == 12 and batch["errors"] is None
    assert result_file(batch["output_file_id"]) == ("batch_abcdefgh", "output")
    assert result_file(batch["error_file_id"]) == ("batch_abcdefgh", "errors")
    assert result_file("file-0123456789abcdef01234567") is None
