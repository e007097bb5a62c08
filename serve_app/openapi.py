"""The OpenAPI 3.1 document, generated from the pydantic models."""

from __future__ import annotations

from pydantic.json_schema import models_json_schema

from engine import models as m
from serve_app import openapi_batches
from serve_app.openapi_openai import SCHEMAS as OPENAI_SCHEMAS
from serve_app.openapi_openai import openai_paths
from serve_app.openapi_parts import REF, json_body, ref, responses


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
    models = [*m.SYNC_REQUESTS.values(), m.SyncResponse, m.ErrorResponse, *openapi_batches.MODELS]
    _, schema = models_json_schema([(model, "validation") for model in dict.fromkeys(models)],
                                   ref_template=REF)
    paths = {
        "/healthz": {"get": {"summary": "Liveness", "operationId": "healthz",
                             "responses": {"200": {"description": "Ready to serve"}}}},
        **_sync_paths(),
        **openapi_batches.batch_paths(),
        **openai_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "AgentFlow batch processing API", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": {**schema.get("$defs", {}), **OPENAI_SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
