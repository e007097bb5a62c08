"""`OpenAIBatches`: the OpenAI Batch API over `BatchService`, free of HTTP and of Ray.

A `/v1/batches` batch is an ordinary batch of the pass-through `chat`
operation (each line's body sent as given, its result the provider's
completion): the same store, coordinator, rate limiter, resume and dashboard
as `/api/batches`. Its input file is checked line by line before anything is
stored; a bad file makes a batch that is `failed` at once, with line-numbered
errors, and no provider call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

from engine.batch import openai_format as fmt
from engine.batch.openai_objects import (
    batch_object,
    file_object,
    result_file,
    result_file_object,
)
from engine.batch.service import BatchService
from engine.errors import InvalidRequest, NotFound
from engine.models import ChatParams
from engine.store.uploaded_files import UploadedFiles

COMPLETION_WINDOWS = ("24h",)
MAX_METADATA_PAIRS = 16
MAX_PAGE = 100


def read_lines(path: Path) -> Iterator[bytes]:
    """A file's lines, read in buffered chunks (never the whole file)."""
    with open(path, "rb") as handle:
        yield from handle


def routed_model(default_model: str, providers, model: str) -> str:
    """provider/model for a line's model: a configured provider's prefix is kept, any other name goes to the
    default provider as it is (`gpt-4.1-mini`, or `meta-llama/Llama-3.1-8B` served by the default one)."""
    name, sep, _ = model.partition("/")
    if sep and name in providers:
        return model
    return f"{default_model.split('/', 1)[0]}/{model}"


def check_request(body) -> dict:
    """The fields of POST /v1/batches, checked; InvalidRequest naming the field otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", field="body")
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest("input_file_id is required", field="input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in fmt.ENDPOINTS:
        raise InvalidRequest(f"endpoint {endpoint!r} is not supported: one of {', '.join(fmt.ENDPOINTS)}",
                             field="endpoint")
    window = body.get("completion_window", "24h")
    if window not in COMPLETION_WINDOWS:
        raise InvalidRequest(f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)}",
                             field="completion_window")
    metadata = body.get("metadata")
    if metadata is not None and not (
            isinstance(metadata, dict) and len(metadata) <= MAX_METADATA_PAIRS
            and all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
                    for k, v in metadata.items())):
        raise InvalidRequest("metadata must be at most 16 string pairs (keys up to 64 characters, values up to "
                             "512)", field="metadata")
    return {"input_file_id": file_id, "endpoint": endpoint, "completion_window": window, "metadata": metadata}


class OpenAIBatches:
    def __init__(self, batches: BatchService, files: UploadedFiles):
        self.batches, self.files = batches, files

    # ---- batches ----------------------------------------------------------------

    def create(self, batch_id: str, owner: str, body) -> dict:
        """Check the request and its file, store the batch; the caller launches it unless it is `failed`."""
        spec = check_request(body)
        source = self.files.meta(spec["input_file_id"], owner)
        if source["purpose"] != "batch":
            raise InvalidRequest(f"file {source['id']} was uploaded with purpose {source['purpose']!r}, not 'batch'",
                                 field="input_file_id")
        path = self.files.data_path(source["id"], owner)
        report = fmt.check_lines(read_lines(path), spec["endpoint"])
        if report.requests == 0:
            report.add("empty_file", None, "the input file holds no requests")
        spec["model"] = next(iter(report.models)) if len(report.models) == 1 else None
        if report.errors:
            return batch_object(self._store_failed(batch_id, owner, spec, report))
        settings = self.batches.settings
        params = ChatParams(model=routed_model(settings.default_model, settings.providers, spec["model"]))
        self.batches.create(batch_id, "chat", params, fmt.item_frames(read_lines(path)), owner, source="openai",
                            extra={"openai": spec})
        return self.retrieve(batch_id, owner)

    def _store_failed(self, batch_id: str, owner: str, spec: dict, report: fmt.LineErrors) -> dict:
        now = time.time()
        meta = {"batch_id": batch_id, "status": "failed", "operation": "chat", "owner": owner, "source": "openai",
                "created_at": now, "finished_at": now,
                "expires_at": now + self.batches.settings.retention_days * 86400,
                "completed_items": 0, "failed_items": 0, "cancelled_items": 0,
                "openai": {**spec, "errors": report.errors}}
        self.batches.store.create(batch_id, meta, [])
        return self.batches.store.read_meta(batch_id)

    def meta(self, batch_id: str, owner: str) -> dict:
        """The batch's meta; NotFound for another tenant's batch, or one not made through /v1/batches."""
        meta = self.batches.meta(batch_id, owner)
        if "openai" not in meta:
            raise NotFound(f"no batch {batch_id}", field="batch_id")
        return meta

    def retrieve(self, batch_id: str, owner: str) -> dict:
        return batch_object(self.meta(batch_id, owner))

    def list(self, owner: str, after: str | None = None, limit: int = 20) -> dict:
        """A page of the owner's batches, newest first, starting after the batch `after`."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        metas = [m for m in self.batches.store.list_batches(owner=owner) if "openai" in m]
        if after is not None:
            ids = [m["batch_id"] for m in metas]
            if after not in ids:
                raise NotFound(f"no batch {after}", field="after")
            metas = metas[ids.index(after) + 1:]
        page = [batch_object(m) for m in metas[:limit]]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(metas) > limit}

    def cancel(self, batch_id: str, owner: str) -> dict:
        meta = self.meta(batch_id, owner)
        if meta["status"] not in ("cancelling", "cancelled"):
            self.batches.cancel(batch_id, owner)
            self.batches.store.update_meta(batch_id, openai={**meta["openai"], "cancelling_at": time.time()})
        return self.retrieve(batch_id, owner)

    # ---- files ------------------------------------------------------------------

    def file(self, file_id: str, owner: str) -> dict:
        """The FileObject of an uploaded file, or of a batch's output or error file."""
        named = result_file(file_id)
        if named is None:
            return file_object(self.files.meta(file_id, owner))
        meta = self.meta(named[0], owner)
        size = sum(len(chunk) for chunk in self._result_lines(meta, named[1]))
        return result_file_object(meta, named[1], size)

    def content(self, file_id: str, owner: str) -> Iterator[bytes]:
        """An uploaded file's bytes, or a batch's output or error lines (what is done so far)."""
        named = result_file(file_id)
        if named is None:
            return self.files.chunks(file_id, owner)
        return self._result_lines(self.meta(named[0], owner), named[1])

    def _result_lines(self, meta: dict, kind: str) -> Iterator[bytes]:
        batch_id = meta["batch_id"]
        lines = fmt.output_lines if kind == "output" else fmt.error_lines
        for frame in self.batches.store.iter_result_frames(batch_id):
            chunk = lines(frame, batch_id)
            if chunk:
                yield chunk
