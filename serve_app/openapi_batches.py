"""OpenAPI paths of the batch routes."""

from __future__ import annotations

from engine import models as m
from loaders import FORMATS, OUTPUT_FORMATS
from serve_app.openapi_parts import json_body, ref, responses

BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
BATCH_REQUESTS = (m.BatchLabelRequest, m.BatchSummarizeRequest, m.BatchExtractRequest, m.BatchEnrichRequest,
                  m.BatchRunRequest)
MODELS = (*BATCH_REQUESTS, m.BatchCreated, m.DryRunEstimate, m.BatchStatus, m.BatchList, m.OutputPage,
          m.BatchSummary)
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "The same key from the same tenant returns the first batch."}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _text(description: str, **schema) -> dict:
    return {"type": "string", "description": description, **schema}


# POST /api/files: the file, then the operation's fields and the batch controls as text form fields.
FILE_FORM = {
    "type": "object",
    "required": ["file", "operation"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "CSV, TSV, JSON, JSONL, text or Parquet, up to AGENTFLOW_MAX_UPLOAD_BYTES and "
                                "1M items; the format comes from `format`, else the extension, else the part's "
                                "Content-Type, else the first bytes"},
        "operation": _text("The operation (classify is label)", enum=["classify", *m.OPERATIONS]),
        "content_column": _text("The items' text (default: content, else the only text column)"),
        "id_column": _text("The items' ids"),
        "metadata_columns": _text("Comma-separated or a JSON list (default: every other column)"),
        "format": _text("Overrides detection", enum=[*FORMATS, "ndjson"]),
        "categories": _text("label: comma-separated, or a JSON list of names or {name, description, examples}"),
        "fields": _text("enrich: the fields, as JSON"),
        "multi_label": _text("label: true or false"),
    },
    "additionalProperties": {"type": "string",
                             "description": "Any other field of the operation, or a batch control, as text "
                                            "(JSON for objects and lists)"},
}


def batch_paths() -> dict:
    create_responses = {  # of both ways to make a batch
        **responses(ref(m.BatchCreated), 400, 401, 413, 422, ok_status="201"),
        "200": {"description": "A dry run's estimate, or the batch an Idempotency-Key already made",
                "content": {"application/json": {"schema": {"oneOf": [ref(m.DryRunEstimate), ref(m.BatchCreated)]}}}},
    }
    output_params = [
        BATCH_ID,
        _query("format", {"type": "string", "enum": list(OUTPUT_FORMATS), "default": "json"}, "Output format"),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "First item index"),
        _query("limit", {"type": "integer", "minimum": 0}, "At most this many items (json: 1 to 10,000, "
               "default 10,000; the other formats: every item by default)"),
        _query("include_input", {"type": "boolean", "default": True},
               "With the input's own columns (a batch made from rows); false: index, id, status, result, error"),
    ]
    return {
        "/api/batches": {
            "post": {"summary": "Submit an async batch", "operationId": "create_batch", "parameters": [IDEMPOTENCY],
                     "requestBody": json_body({"oneOf": [ref(r) for r in BATCH_REQUESTS],
                                               "discriminator": {"propertyName": "operation"}}),
                     "responses": create_responses},
            "get": {"summary": "List batches, newest first", "operationId": "list_batches",
                    "parameters": [_query("limit", {"type": "integer", "minimum": 1}, "At most this many")],
                    "responses": responses(ref(m.BatchList), 401, 422)},
        },
        "/api/files": {
            "post": {"summary": "Upload a file as a batch", "operationId": "upload_file", "parameters": [IDEMPOTENCY],
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": FILE_FORM}}},
                     "responses": create_responses},
        },
        "/api/batches/{batch_id}": {
            "get": {"summary": "Batch status and progress", "operationId": "get_batch", "parameters": [BATCH_ID],
                    "responses": responses(ref(m.BatchStatus), 401, 404)},
        },
        "/api/batches/{batch_id}/output": {
            "get": {"summary": "Results in item order (partial while running)", "operationId": "get_batch_output",
                    "parameters": output_params,
                    "responses": {**responses(ref(m.OutputPage), 401, 404, 422),
                                  "200": {"description": "json: a page; jsonl, csv and parquet: every item "
                                                         "(or offset and limit's), streamed",
                                          "content": {"application/json": {"schema": ref(m.OutputPage)},
                                                      "application/x-ndjson": {"schema": {"type": "string"}},
                                                      "text/csv": {"schema": {"type": "string"}},
                                                      "application/vnd.apache.parquet": {
                                                          "schema": {"type": "string", "format": "binary"}}}}}},
        },
        "/api/batches/{batch_id}/summary": {
            "get": {"summary": "Results at a glance: value counts, error groups, items/s over the run",
                    "operationId": "get_batch_summary", "parameters": [BATCH_ID],
                    "responses": responses(ref(m.BatchSummary), 401, 404)},
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
