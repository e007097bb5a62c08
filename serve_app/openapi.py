"""The OpenAPI 3.1 document, generated from the pydantic models."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from engine import models as m

REF = "#/components/schemas/{model}"


def ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def responses(ok: dict, *errors: int, ok_status: str = "200") -> dict:
    out = {ok_status: {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    for status in errors:
        out[str(status)] = {"description": _ERROR_TEXT[status],
                            "content": {"application/json": {"schema": ref(m.ErrorResponse)}}}
    return out


_ERROR_TEXT = {
    400: "Malformed JSON, unknown provider or missing provider key",
    401: "Missing or invalid API key",
    404: "Unknown batch",
    409: "The batch is in the wrong state",
    413: "Too many items or too many bytes",
    422: "Invalid field (the error names it)",
}


def _sync_paths() -> dict:
    paths = {}
    for operation, model in m.SYNC_REQUESTS.items():
        paths[f"/api/completions/{operation}"] = {
            "post": {
                "summary": f"{operation} up to {m.MAX_SYNC_ITEMS} items synchronously",
                "operationId": f"completions_{operation}",
                "requestBody": json_body(ref(model)),
                "responses": responses(ref(m.SyncResponse), 400, 401, 413, 422),
            }
        }
    return paths


def openapi_document() -> dict:
    from serve_app import openapi_batches

    models = [*m.SYNC_REQUESTS.values(), m.SyncResponse, m.ErrorResponse, *openapi_batches.MODELS]
    _, schema = models_json_schema([(model, "validation") for model in dict.fromkeys(models)],
                                   ref_template=REF)
    paths = {
        "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                             "responses": {"200": {"description": "Ready to serve"}}}},
        **_sync_paths(),
        **openapi_batches.batch_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "AgentFlow batch processing API", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
