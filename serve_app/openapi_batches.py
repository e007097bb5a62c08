"""OpenAPI paths of the batch routes."""

from __future__ import annotations

from engine import models as m
from serve_app.openapi import json_body, ref, responses

BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
BATCH_REQUESTS = (m.BatchLabelRequest, m.BatchSummarizeRequest, m.BatchExtractRequest, m.BatchEnrichRequest,
                  m.BatchRunRequest)
MODELS = (*BATCH_REQUESTS, m.BatchCreated, m.DryRunEstimate, m.BatchStatus, m.BatchList, m.OutputPage)
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "The same key from the same tenant returns the first batch."}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def batch_paths() -> dict:
    output_params = [
        BATCH_ID,
        _query("format", {"type": "string", "enum": ["json", "jsonl", "csv"], "default": "json"}, "Output format"),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "First item index (json)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "Page size (json, up to 10,000)"),
    ]
    return {
        "/api/batches": {
            "post": {"summary": "Submit an async batch", "operationId": "create_batch", "parameters": [IDEMPOTENCY],
                     "requestBody": json_body({"oneOf": [ref(r) for r in BATCH_REQUESTS],
                                               "discriminator": {"propertyName": "operation"}}),
                     "responses": {
                         **responses(ref(m.BatchCreated), 400, 401, 413, 422, ok_status="201"),
                         "200": {"description": "A dry run's estimate, or the batch an Idempotency-Key already made",
                                 "content": {"application/json": {"schema": {
                                     "oneOf": [ref(m.DryRunEstimate), ref(m.BatchCreated)]}}}},
                     }},
            "get": {"summary": "List batches, newest first", "operationId": "list_batches",
                    "parameters": [_query("limit", {"type": "integer", "minimum": 1}, "At most this many")],
                    "responses": responses(ref(m.BatchList), 401, 422)},
        },
        "/api/batches/{batch_id}": {
            "get": {"summary": "Batch status and progress", "operationId": "get_batch", "parameters": [BATCH_ID],
                    "responses": responses(ref(m.BatchStatus), 401, 404)},
        },
        "/api/batches/{batch_id}/output": {
            "get": {"summary": "Results in item order (partial while running)", "operationId": "get_batch_output",
                    "parameters": output_params,
                    "responses": {**responses(ref(m.OutputPage), 401, 404, 422),
                                  "200": {"description": "json: a page; jsonl and csv: every item, streamed",
                                          "content": {"application/json": {"schema": ref(m.OutputPage)},
                                                      "application/x-ndjson": {"schema": {"type": "string"}},
                                                      "text/csv": {"schema": {"type": "string"}}}}}},
        },
        "/api/batches/{batch_id}/events": {
            "get": {"summary": "Progress as server-sent events", "operationId": "get_batch_events",
                    "description": "`event: progress` with the status JSON whenever it changes, a `: keep-alive` "
                                   "comment every 15 s, and `event: end` with the terminal status, then close.",
                    "parameters": [BATCH_ID],
                    "responses": {**responses(ref(m.BatchStatus), 401, 404),
                                  "200": {"description": "Events whose data is a BatchStatus (JSON)",
                                          "content": {"text/event-stream": {"schema": {"type": "string"}}}}}},
        },
        "/api/batches/{batch_id}/cancel": {
            "post": {"summary": "Cancel a batch; completed work is kept", "operationId": "cancel_batch",
                     "parameters": [BATCH_ID], "responses": responses(ref(m.BatchStatus), 401, 404, 409)},
        },
        "/api/batches/{batch_id}/retry": {
            "post": {"summary": "Re-run the failed items of a finished batch", "operationId": "retry_batch",
                     "parameters": [BATCH_ID], "responses": responses(ref(m.BatchStatus), 401, 404, 409)},
        },
    }
