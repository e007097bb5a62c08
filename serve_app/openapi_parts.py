"""Building blocks of the OpenAPI document: schema references, bodies and responses."""

from __future__ import annotations

from pydantic import BaseModel

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
