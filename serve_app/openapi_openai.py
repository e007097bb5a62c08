"""OpenAPI paths and schemas of the OpenAI-compatible /v1 routes (serve_app.openai_routes, openai_files).

The shapes are OpenAI's own `Batch` and `FileObject` (as the `openai` SDK's types declare them),
written out here: they are built from store metas, not from pydantic models.
"""

from __future__ import annotations

from serve_app.openapi_parts import responses

ERRORS = (400, 401, 404, 409, 413, 422)
_INT = {"type": ["integer", "null"]}
_TEXT = {"type": ["string", "null"]}
_COUNTS = {"type": "object", "required": ["total", "completed", "failed"],
           "properties": {k: {"type": "integer"} for k in ("total", "completed", "failed")}}
_BATCH_ERROR = {"type": "object", "properties": {"code": _TEXT, "line": _INT, "message": _TEXT, "param": _TEXT}}

SCHEMAS = {
    "OpenAIBatch": {
        "type": "object",
        "required": ["id", "object", "endpoint", "input_file_id", "completion_window", "status", "created_at"],
        "properties": {
            "id": {"type": "string"}, "object": {"const": "batch"}, "endpoint": {"type": "string"},
            "input_file_id": {"type": "string"}, "completion_window": {"type": "string"},
            "status": {"enum": ["validating", "failed", "in_progress", "finalizing", "completed", "expired",
                                "cancelling", "cancelled"]},
            "model": _TEXT, "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "errors": {"type": ["object", "null"], "properties": {"object": {"const": "list"},
                                                                  "data": {"type": "array", "items": _BATCH_ERROR}}},
            "output_file_id": _TEXT, "error_file_id": _TEXT, "created_at": {"type": "integer"},
            **{name: _INT for name in ("in_progress_at", "expires_at", "finalizing_at", "completed_at", "failed_at",
                                       "expired_at", "cancelling_at", "cancelled_at")},
            "request_counts": _COUNTS,
            "usage": {"type": "object"},
        },
    },
    "OpenAIFile": {
        "type": "object", "required": ["id", "object", "bytes", "created_at", "filename", "purpose"],
        "properties": {"id": {"type": "string"}, "object": {"const": "file"}, "bytes": {"type": "integer"},
                       "created_at": {"type": "integer"}, "filename": {"type": "string"},
                       "purpose": {"enum": ["batch", "batch_output"]}, "status": {"type": "string"},
                       "status_details": _TEXT, "expires_at": _INT},
    },
    "OpenAIFileDeleted": {"type": "object", "required": ["id", "object", "deleted"],
                          "properties": {"id": {"type": "string"}, "object": {"const": "file"},
                                         "deleted": {"type": "boolean"}}},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict:
    return {"type": "object", "required": ["object", "data", "has_more"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref(name)},
                           "first_id": _TEXT, "last_id": _TEXT, "has_more": {"type": "boolean"}}}


def _param(name: str, where: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


FILE_ID = _param("file_id", "path", {"type": "string"}, "An uploaded file, or a batch's output_file_id or error_file_id")
BATCH_ID = _param("batch_id", "path", {"type": "string"})
PAGING = [_param("after", "query", {"type": "string"}, "The id after which the page starts"),
          _param("limit", "query", {"type": "integer"}, "Page size")]
CREATE_BATCH = {
    "type": "object", "required": ["input_file_id", "endpoint", "completion_window"],
    "properties": {"input_file_id": {"type": "string"}, "endpoint": {"enum": ["/v1/chat/completions"]},
                   "completion_window": {"enum": ["24h"]},
                   "metadata": {"type": "object", "maxProperties": 16, "additionalProperties": {"type": "string"}}},
}
UPLOAD = {"type": "object", "required": ["file", "purpose"],
          "properties": {"file": {"type": "string", "format": "binary",
                                  "description": "JSONL, one request a line; up to 200 MB and 1M lines"},
                         "purpose": {"enum": ["batch"]}}}


def openai_paths() -> dict:
    jsonl = {"200": {"description": "The file's bytes; a batch's output or error lines (partial while it runs)",
                     "content": {"application/jsonl": {"schema": {"type": "string"}}}}}
    return {
        "/v1/files": {
            "post": {"summary": "Upload a batch input file (OpenAI Files API)", "operationId": "openai_upload_file",
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": UPLOAD}}},
                     "responses": responses(_ref("OpenAIFile"), *ERRORS)},
            "get": {"summary": "List uploaded files, newest first", "operationId": "openai_list_files",
                    "parameters": [*PAGING, _param("purpose", "query", {"type": "string"}),
                                   _param("order", "query", {"enum": ["asc", "desc"]})],
                    "responses": responses(_list_of("OpenAIFile"), *ERRORS)},
        },
        "/v1/files/{file_id}": {
            "get": {"summary": "A file object", "operationId": "openai_get_file", "parameters": [FILE_ID],
                    "responses": responses(_ref("OpenAIFile"), *ERRORS)},
            "delete": {"summary": "Delete an uploaded file", "operationId": "openai_delete_file",
                       "parameters": [FILE_ID], "responses": responses(_ref("OpenAIFileDeleted"), *ERRORS)},
        },
        "/v1/files/{file_id}/content": {
            "get": {"summary": "Download a file", "operationId": "openai_file_content", "parameters": [FILE_ID],
                    "responses": {**responses(_ref("OpenAIFile"), *ERRORS), **jsonl}},
        },
        "/v1/batches": {
            "post": {"summary": "Create a batch from an uploaded file (OpenAI Batch API)",
                     "operationId": "openai_create_batch",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": CREATE_BATCH}}},
                     "responses": responses(_ref("OpenAIBatch"), *ERRORS)},
            "get": {"summary": "List batches, newest first", "operationId": "openai_list_batches",
                    "parameters": PAGING, "responses": responses(_list_of("OpenAIBatch"), *ERRORS)},
        },
        "/v1/batches/{batch_id}": {
            "get": {"summary": "A batch", "operationId": "openai_get_batch", "parameters": [BATCH_ID],
                    "responses": responses(_ref("OpenAIBatch"), *ERRORS)},
        },
        "/v1/batches/{batch_id}/cancel": {
            "post": {"summary": "Cancel a batch; completed lines are kept", "operationId": "openai_cancel_batch",
                     "parameters": [BATCH_ID], "responses": responses(_ref("OpenAIBatch"), *ERRORS)},
        },
    }
