"""OpenAI's `Batch` and `FileObject` shapes, made from our stored metas. Pure.

A batch made through `/v1/batches` is an ordinary batch of the `chat`
operation whose meta also holds an `openai` block (input_file_id, endpoint,
completion_window, metadata, the lines' model, validation errors,
cancelling_at). Its output and error files are not stored: they are made from
its results on each download, and named after the batch.
"""

from __future__ import annotations

import re

STATUSES = {"queued": "validating", "processing": "in_progress", "cancelling": "cancelling",
            "completed": "completed", "failed": "failed", "cancelled": "cancelled"}
_RESULT_FILE = re.compile(r"file-(batch_[A-Za-z0-9_-]{8,64})-(output|errors)")


def output_file_id(batch_id: str) -> str:
    return f"file-{batch_id}-output"


def error_file_id(batch_id: str) -> str:
    return f"file-{batch_id}-errors"


def result_file(file_id: str) -> tuple[str, str] | None:
    """(batch_id, "output" or "errors") if `file_id` names a batch's output or error file."""
    match = _RESULT_FILE.fullmatch(file_id)
    return (match.group(1), match.group(2)) if match else None


def _epoch(value: float | None) -> int | None:
    return int(value) if value else None


def batch_object(meta: dict) -> dict:
    """OpenAI's `Batch` for one of our metas (with its `openai` block)."""
    batch_id, spec = meta["batch_id"], meta["openai"]
    status = STATUSES[meta["status"]]
    finished = _epoch(meta.get("finished_at"))
    usage = meta.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    ended = meta.get("failed_items", 0) + meta.get("cancelled_items", 0)
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": spec["endpoint"],
        "input_file_id": spec["input_file_id"],
        "completion_window": spec["completion_window"],
        "status": status,
        "model": spec.get("model"),
        "metadata": spec.get("metadata"),
        "errors": _errors(meta),
        "output_file_id": output_file_id(batch_id) if meta.get("total_items") and status != "validating" else None,
        "error_file_id": error_file_id(batch_id) if ended else None,
        "created_at": int(meta["created_at"]),
        "in_progress_at": _epoch(meta.get("started_at")),
        "expires_at": _epoch(meta.get("expires_at")),
        "finalizing_at": finished if status == "completed" else None,
        "completed_at": finished if status == "completed" else None,
        "failed_at": (finished or int(meta["created_at"])) if status == "failed" else None,
        "expired_at": None,
        "cancelling_at": _epoch(spec.get("cancelling_at")),
        "cancelled_at": finished if status == "cancelled" else None,
        "request_counts": {"total": meta.get("total_items", 0), "completed": meta.get("completed_items", 0),
                           "failed": meta.get("failed_items", 0)},
        "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": prompt + completion},
    }


def _errors(meta: dict) -> dict | None:
    data = list(meta["openai"].get("errors") or [])
    failure = meta.get("error")  # the batch could not run at all (e.g. its provider lost its key)
    if failure:
        data.append({"code": failure.get("type"), "line": None, "message": failure.get("message"),
                     "param": failure.get("field")})
    return {"object": "list", "data": data} if data else None


def file_object(meta: dict) -> dict:
    """OpenAI's `FileObject` for an uploaded file's meta."""
    return {
        "id": meta["id"],
        "object": "file",
        "bytes": meta["bytes"],
        "created_at": int(meta["created_at"]),
        "filename": meta["filename"],
        "purpose": meta["purpose"],
        "status": "processed",
        "status_details": None,
        "expires_at": _epoch(meta.get("expires_at")),
    }


def result_file_object(meta: dict, kind: str, size: int) -> dict:
    """The `FileObject` of a batch's output or error file (`kind`), of `size` bytes now."""
    batch_id = meta["batch_id"]
    return {
        "id": output_file_id(batch_id) if kind == "output" else error_file_id(batch_id),
        "object": "file",
        "bytes": size,
        "created_at": int(meta.get("finished_at") or meta["created_at"]),
        "filename": f"{batch_id}_{kind}.jsonl",
        "purpose": "batch_output",
        "status": "processed",
        "status_details": None,
        "expires_at": _epoch(meta.get("expires_at")),
    }
