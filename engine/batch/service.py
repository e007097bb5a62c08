"""Async batches: submit, status, list, cancel, retry, output.

`BatchService` validates and stores a batch, then asks its runner to drive it
(`LocalBatchRunner` here: an asyncio task; `RayBatchRunner` in
`engine.ray.actors`: one detached coordinator actor per run of a batch, see
`run_name`). Status and output
are read from the store, so they answer while the batch runs, after its
coordinator exits, and after a restart.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Iterable, Iterator, Protocol

import polars as pl

from engine.batch import output as batch_output
from engine.batch.calls import CallerPool, cascade_targets, plan_request
from engine.batch.cascade_routing import CascadeLedger, cascade_cost_range, public_figures
from engine.batch.coordinator import Coordinator
from engine.batch.coordinator import input_items as frame_items
from engine.batch.orphans import ORPHAN_SECONDS, QuietWatch
from engine.batch.summary import summarise
from engine.batch.sync import metadata_fields, missing_template_field
from engine.config import Settings
from engine.errors import Conflict, NotFound
from engine.models import (
    FINISHED_STATES,
    BatchControls,
    BatchCreated,
    BatchStatus,
    DryRunEstimate,
    params_of,
)
from engine.prompt.exchange import build_messages
from engine.prompt.plan import OperationPlan
from engine.prompt.tokens import estimate_prompt_tokens
from engine.store.batch_store import validate_batch_id
from loaders import result_fields


class BatchRunner(Protocol):
    def launch(self, batch_id: str) -> None: ...
    def cancel(self, batch_id: str) -> None: ...


class LocalBatchRunner:
    """Runs each batch's `Coordinator` as a task on the current event loop."""

    def __init__(self, settings: Settings, store, pool: CallerPool):
        self._settings, self._store, self._pool = settings, store, pool
        self.running: dict[str, tuple[Coordinator, asyncio.Task]] = {}  # by run_name

    def launch(self, batch_id: str) -> None:
        run = run_name(batch_id, self._store.read_meta(batch_id))
        if run in self.running and not self.running[run][1].done():
            return
        coordinator = Coordinator(batch_id, self._store, self._pool, self._settings)
        self.running[run] = (coordinator, asyncio.get_running_loop().create_task(coordinator.run()))

    def cancel(self, batch_id: str) -> None:
        run = run_name(batch_id, self._store.read_meta(batch_id))
        if run in self.running:
            self.running[run][0].cancel()


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z") if epoch else None


def result_columns(plan: OperationPlan) -> list[str] | None:
    """CSV columns of the operation's result, known before any result exists."""
    if plan.schema and plan.schema.get("properties"):
        return list(plan.schema["properties"])
    if plan.required_keys:
        return list(plan.required_keys)
    return None if plan.expect_json else ["result"]


def items_frame(items: list) -> pl.DataFrame:
    rows = [item.model_dump(exclude_none=True) for item in items]
    return pl.DataFrame(
        {
            "content": [r["content"] for r in rows],
            "id": [r.get("id") for r in rows],
            "metadata": [json.dumps(r["metadata"], ensure_ascii=False) if r.get("metadata") else None for r in rows],
        },
        schema={"content": pl.String, "id": pl.String, "metadata": pl.String},
    )


def with_template_fields(frames: Iterable[pl.DataFrame], needed: frozenset[str]) -> Iterator[pl.DataFrame]:
    """`frames`, as they stream in: InvalidRequest at the first item whose metadata lacks a needed key.

    A test on the metadata's JSON text, vectorised, as both its encoders write a key as `"name":`
    (a quote inside a string value is escaped, so a value never matches). A key of a nested
    object also matches: that item then fails when its prompt is built, as it would unchecked.
    """
    start = 0
    for frame in frames:
        metadata = frame["metadata"]
        for name in sorted(needed):
            has_key = metadata.str.contains(json.dumps(name, ensure_ascii=False) + ":", literal=True)
            lacking = (~has_key.fill_null(False)).arg_true()
            if len(lacking):
                raise missing_template_field(start + lacking[0], name)
        start += frame.height
        yield frame


def _recording_input_columns(frames: Iterable[pl.DataFrame], meta: dict) -> Iterator[pl.DataFrame]:
    """`frames`; meta["input_columns"] set from their `input_columns` (loaders.ItemFrames) at the first."""
    for frame in frames:
        if "input_columns" not in meta:
            meta["input_columns"] = getattr(frames, "input_columns", None)
        yield frame


def run_name(batch_id: str, meta: dict) -> str:
    """The name of the batch's current run: its first, then one per retry ("<batch_id>-retry-<n>").

    A run's coordinator writes the finished status as its last act, and only
    then exits: a retry asked in between must not reach that exiting
    coordinator (its start would be lost, or begun and cut off with the
    process), so each run gets a coordinator of its own name.
    """
    retries = meta.get("retries", 0)
    return f"{batch_id}-retry-{retries}" if retries else batch_id


def _unfinished(meta: dict) -> bool:
    return meta["status"] not in FINISHED_STATES or bool(meta.get("retry_requested"))


class BatchService:
    def __init__(self, settings: Settings, store, runner: BatchRunner):
        self.settings, self.store, self.runner = settings, store, runner

    def prepare(self, operation: str, request) -> tuple[dict, list[str] | None, frozenset[str]]:
        """Validate the batch's operation up front (provider, template).

        Returns the meta to store, the result's CSV columns and the metadata keys its template needs.
        """
        params = params_of(request, operation)
        plan, target = plan_request(self.settings, operation, params)
        meta = {"operation": operation, "params": params.model_dump(by_alias=True, exclude_none=True),
                "model": target.display_model,
                "result_fields": result_fields(plan.schema, list(plan.required_keys), plan.expect_json)}
        if params.cascade is not None:  # its figures show in the status from the start
            cheap, strong = cascade_targets(self.settings, params.cascade)
            meta["cascade"] = CascadeLedger((cheap.display_model, strong.display_model)).to_meta(self.settings.prices)
        return meta, result_columns(plan), metadata_fields(plan)

    def create(self, batch_id: str, operation: str, request, frames, owner: str, source: str = "api",
               controls: BatchControls | None = None, extra: dict | None = None) -> dict:
        """Store a validated batch as `queued` (the caller then launches it); `extra` joins its meta."""
        meta, columns, needed = self.prepare(operation, request)
        controls = controls or BatchControls()
        now = time.time()
        options = controls.model_dump(exclude={"dry_run"})
        if options["cache"] is None:
            options["cache"] = self.settings.cache_default
        meta.update(batch_id=batch_id, status="queued", owner=owner, source=source, created_at=now,
                    expires_at=now + self.settings.retention_days * 86400, result_columns=columns,
                    completed_items=0, failed_items=0, cancelled_items=0, options=options, **(extra or {}))
        frames = _recording_input_columns(frames, meta)
        # The store writes the meta once the items are: it then holds the input columns seen.
        total = self.store.create(batch_id, meta, with_template_fields(frames, needed) if needed else frames)
        return BatchCreated(batch_id=batch_id, status="queued", total_items=total).model_dump(mode="json")

    def estimate(self, operation: str, request, frames) -> dict:
        """A dry run: items, tokens and cost, without calling the provider."""
        params = params_of(request, operation)
        plan, target = plan_request(self.settings, operation, params)
        total = input_tokens = 0
        for frame in frames:
            for item in frame_items(frame):
                input_tokens += estimate_prompt_tokens(build_messages(plan, item))
                total += 1
        output_tokens = total * (plan.max_tokens or plan.completion_estimate)
        cost = self.settings.prices.cost(target.display_model, input_tokens, output_tokens)
        cost_range = None
        if params.cascade is not None:
            cost_range = cascade_cost_range(self.settings.prices, cascade_targets(self.settings, params.cascade),
                                            input_tokens, output_tokens, total, params.cascade.sample)
            cost = None if cost_range is None else cost_range[1]
        return DryRunEstimate(
            dry_run=True, operation=operation, model=target.display_model, total_items=total,
            estimated_input_tokens=input_tokens, estimated_output_tokens=output_tokens,
            estimated_cost=cost, cascade_cost_range=cost_range,
        ).model_dump(mode="json")

    def meta(self, batch_id: str, owner: str) -> dict:
        validate_batch_id(batch_id)
        meta = self.store.read_meta(batch_id)
        if meta.get("owner") != owner:  # another tenant's batch does not exist for this one
            raise NotFound(f"no batch {batch_id}", field="batch_id")
        return meta

    def status(self, batch_id: str, owner: str) -> dict:
        return public_status(batch_id, self.meta(batch_id, owner))

    def list(self, owner: str, limit: int = 100) -> list[dict]:
        metas = self.store.list_batches(owner=owner)[:limit]
        return [public_status(m["batch_id"], m) for m in metas]

    def cancel(self, batch_id: str, owner: str) -> dict:
        meta = self.meta(batch_id, owner)
        if meta["status"] in ("completed", "failed"):
            raise Conflict(f"batch {batch_id} already {meta['status']}; nothing to cancel", field="batch_id")
        if meta["status"] != "cancelled":
            meta = self.store.update_meta(batch_id, cancel_requested=True, cancel_reason="cancelled",
                                          status="cancelling")
            self.runner.cancel(batch_id)
        return public_status(batch_id, meta)

    def retry_prepare(self, batch_id: str, owner: str) -> dict:
        """Queue the failed items of a finished batch again (the caller then launches it)."""
        meta = self.meta(batch_id, owner)
        if meta["status"] not in FINISHED_STATES:
            raise Conflict(f"batch {batch_id} is still {meta['status']}; retry it once it has finished",
                           field="batch_id")
        if not meta.get("failed_items"):
            raise Conflict(f"batch {batch_id} has no failed items to retry", field="batch_id")
        meta = self.store.update_meta(batch_id, status="queued", retry_requested=True, finished_at=None,
                                      cancel_requested=False, cancel_reason=None,
                                      retries=meta.get("retries", 0) + 1)
        return public_status(batch_id, meta)

    def unfinished(self) -> list[str]:
        """Batches not yet finished (or asked to retry): their coordinators may have died with a crash."""
        return [m["batch_id"] for m in self.store.list_batches() if _unfinished(m)]

    def orphans(self, watch: QuietWatch) -> list[str]:
        """The unfinished batches that no coordinator drives any more (ask again and again, launch them)."""
        unfinished = self.unfinished()
        watch.keep_only(unfinished)
        return [batch_id for batch_id in unfinished if self.is_orphan(watch, batch_id)]

    def is_orphan(self, watch: QuietWatch, batch_id: str) -> bool:
        """Whether `watch`, asked again and again, has seen the batch's meta unchanged for ORPHAN_SECONDS."""
        version = self.store.meta_version(batch_id)
        return version is not None and watch.quiet_for(batch_id, version) >= ORPHAN_SECONDS

    def delete_expired(self) -> list[str]:
        """Drop batches past their retention (`expires_at`)."""
        expired = self.store.expired(time.time())
        for batch_id in expired:
            self.store.delete(batch_id)
        return expired

    def output(self, batch_id: str, owner: str, fmt: str, offset: int = 0, limit: int | None = None,
               include_input: bool = True) -> Iterator[bytes]:
        """The output in json (one page), jsonl, csv or parquet (see engine.batch.output)."""
        meta = self.meta(batch_id, owner)
        return batch_output.export(self.store, batch_id, meta, fmt, offset, limit, include_input)

    def summary(self, batch_id: str, owner: str) -> dict:
        """What the dashboard shows of the results (see engine.batch.summary)."""
        return summarise(self.store, batch_id, self.meta(batch_id, owner))


def public_status(batch_id: str, meta: dict) -> dict:
    """The JSON of GET /api/batches/{batch_id}, built through the `BatchStatus` model OpenAPI documents."""
    total = meta.get("total_items", 0)
    counts = {k: meta.get(k, 0) for k in ("completed_items", "failed_items", "cancelled_items")}
    done = sum(counts.values())
    rate = meta.get("items_per_second") or 0.0
    running = meta["status"] in ("queued", "processing")
    usage = meta.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0}
    cost = meta.get("estimated_cost")
    cancelling = meta["status"] in ("cancelling", "cancelled")
    return BatchStatus(
        batch_id=batch_id, status=meta["status"], operation=meta.get("operation"), model=meta.get("model"),
        total_items=total, **counts,
        progress_percentage=round(100.0 * done / total, 1) if total else 0.0,
        **{name: _iso(meta.get(name)) for name in ("created_at", "started_at", "finished_at", "expires_at")},
        usage={**usage, "total_tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)},
        items_per_second=rate,
        eta_seconds=round((total - done) / rate, 1) if running and rate > 0 else None,
        estimated_cost=cost,
        projected_cost=round(cost * total / done, 10) if cost is not None and done else cost,
        cached_items=meta.get("cached_items", 0), folded_items=meta.get("folded_items", 0),
        concurrency=meta.get("concurrency"),
        reason=(meta.get("cancel_reason") or None) if cancelling else None,
        error=meta.get("error") or None,
        cascade=public_figures(meta["cascade"]) if meta.get("cascade") else None,
    ).model_dump(mode="json")
