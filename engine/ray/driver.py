"""`engine.connect()`: the Python driver API, in-process over the same services as the HTTP API.

    import engine
    client = engine.connect()                       # embedded Ray (or RAY_ADDRESS)
    client.label(["great", "awful"], categories=["positive", "negative"])
    batch = client.submit("reviews.csv", operation="label", categories=["positive", "negative"])
    batch.wait()                                    # a progress bar on stderr
    frame = batch.results()                         # one row per item, in order

The client builds `SyncService` and `BatchService` exactly as the Serve
ingress does (serve_app/deployment.py), so a batch submitted here is driven by
the same detached coordinator actors and shared caller pool, and is visible
through the HTTP API of a service on the same store.

Besides `engine.ray.actors`, this is the one module that imports Ray (DESIGN.md).
"""

from __future__ import annotations

import logging
import os
from typing import Iterator

import ray

from engine.batch.orphans import QuietWatch
from engine.batch.service import BatchService
from engine.batch.sync import SyncService
from engine.config import Settings
from engine.models import (
    FINISHED_STATES,
    MAX_SYNC_ITEMS,
    PARAMS,
    SYNC_REQUESTS,
    operation_of,
)
from engine.ray.actors import NAMESPACE, RayBatchRunner, RayCallerPool, ensure_simulator
from engine.sdk.batch_handle import BatchHandle
from engine.sdk.inputs import LOADER_OPTIONS, check_count, is_path
from engine.sdk.loop_thread import LoopThread
from engine.sdk.results import json_array
from engine.sdk.submission import batch_frames, pop_controls, validated
from engine.sdk.sync_operations import SyncOperations
from engine.store.batch_store import BatchStore, new_batch_id

log = logging.getLogger("agentflow.driver")

# The owner the HTTP API gives every batch when API keys are off: a batch made
# here is then listed and readable over HTTP too.
ANONYMOUS = "anonymous"


def connect(address: str | None = None, settings: Settings | None = None, *, pool_name: str = "agentflow",
            owner: str = ANONYMOUS) -> "Client":
    """Connect to Ray and return a `Client`.

    `address`: None runs an embedded local Ray (or joins `RAY_ADDRESS` when set);
    "auto" joins the cluster this machine belongs to; "ray://host:10001" joins a
    remote one. A Ray already initialised in this process is reused as it is.
    `settings` defaults to `Settings.from_env()`; `pool_name` names the shared
    caller pool (every client and service with the same name shares it).
    """
    started = _ensure_ray(address)
    settings = settings or Settings.from_env()
    if settings.needs_simulator:
        settings = settings.with_simulator(ensure_simulator(settings))
    return Client(settings, pool_name=pool_name, owner=owner, owns_ray=started)


def _ensure_ray(address: str | None) -> bool:
    """Initialise Ray unless it already is; True if this call started it."""
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    # Actors' logs would be interleaved with the progress bar; errors reach the caller as results.
    ray.init(address=target, namespace=NAMESPACE, log_to_driver=False)
    return True


class Client(SyncOperations):
    """Sync operations and async batches, over the cluster's shared caller pool. Made by `connect()`."""

    def __init__(self, settings: Settings, pool_name: str = "agentflow", owner: str = ANONYMOUS,
                 owns_ray: bool = False):
        self.settings = settings
        self.owner = owner
        self.pool = RayCallerPool(settings, pool_name)
        self.engine = SyncService(settings, self.pool)
        self.batches = BatchService(settings, BatchStore(settings.store), RayBatchRunner(settings, pool_name))
        self._loop = LoopThread()
        self._owns_ray = owns_ray
        self._closed = False
        self._submitted: list[str] = []  # to warn, on close, of those that stop with an embedded Ray
        self._watch = QuietWatch()

    def _sync(self, operation: str, items: list[dict], params: dict) -> dict:
        self._check_open()
        check_count(len(items), MAX_SYNC_ITEMS, "; submit larger sets with submit()")
        request = validated(SYNC_REQUESTS[operation], {"items": items, **params})
        return self._loop.run(self.engine.run_sync(operation, request))

    # ---- async batches ----------------------------------------------------------

    def submit(self, items, operation: str, **params) -> "Batch":
        """Store a batch and start it; returns its `Batch` at once.

        `items`: a list of dicts ({content, metadata?, id?}) or strings; a Polars
        DataFrame (a `content` column, an optional `id`, the other columns become
        metadata); or a file path (CSV, JSON, JSONL, text, Parquet). For a
        DataFrame or a file, `content_column`, `id_column` and `metadata_columns`
        choose the columns (and `format` a file's format). The other keyword
        arguments are the operation's parameters and the batch controls
        (`max_cost`, `max_error_rate`, `cache`).
        """
        self._check_open()
        operation = operation_of(operation)
        loader = {name: params.pop(name) for name in LOADER_OPTIONS if name in params}
        controls = pop_controls(params)
        request = validated(PARAMS[operation], params)
        frames = batch_frames(items, loader)
        batch_id = new_batch_id()
        source = "file" if is_path(items) else "driver"
        self.batches.create(batch_id, operation, request, frames, self.owner, source, controls)
        self.batches.runner.launch(batch_id)
        self._submitted.append(batch_id)
        return Batch(self, batch_id)

    def batch(self, batch_id: str) -> "Batch":
        """The handle of an existing batch (NotFound if it is not this owner's)."""
        self.batches.meta(batch_id, self.owner)
        return Batch(self, batch_id)

    def list_batches(self, limit: int = 100) -> list[dict]:
        """Your batches, newest first."""
        return self.batches.list(self.owner, limit)

    def resume_if_orphaned(self, batch_id: str) -> None:
        """Launch the unfinished batch here if no coordinator drives it any more (see engine.batch.orphans).

        So a batch whose script ended before it did (its embedded Ray went with it)
        goes on when a later script waits for it; polled by `Batch.status()`.
        """
        if not self._closed and self.batches.is_orphan(self._watch, batch_id):
            self.batches.runner.launch(batch_id)

    # ---- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """Stop this client; shut Ray down if `connect()` started it (running batches stop with it)."""
        if self._closed:
            return
        self._closed = True
        self._loop.stop()
        if self._owns_ray:
            self._warn_of_unfinished()
            ray.shutdown()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this client is closed: make another with engine.connect()")

    def _warn_of_unfinished(self) -> None:
        unfinished = [b for b in self._submitted if self.batches.store.read_meta(b)["status"] not in FINISHED_STATES]
        if unfinished:
            log.warning("%d batch(es) stop unfinished with this process's embedded Ray: %s. Each goes on when a "
                        "later script waits for it (client.batch(id).wait()), or under `agentflow serve` with "
                        "the same store.", len(unfinished), ", ".join(unfinished))

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Batch(BatchHandle):
    """A batch seen through a `Client`: status and results come from the shared store."""

    def __init__(self, client: Client, batch_id: str):
        super().__init__(batch_id)
        self._client = client

    def status(self) -> dict:
        status = self._client.batches.status(self.id, self._client.owner)
        if status["status"] not in FINISHED_STATES:
            self._client.resume_if_orphaned(self.id)
        return status

    def cancel(self) -> dict:
        return self._client.batches.cancel(self.id, self._client.owner)

    def retry(self) -> dict:
        """Re-run the failed items of a finished batch."""
        self._client._check_open()
        status = self._client.batches.retry_prepare(self.id, self._client.owner)
        self._client.batches.runner.launch(self.id)
        return status

    def records(self) -> Iterator[dict]:
        self._client.batches.meta(self.id, self._client.owner)  # the owner check
        for chunk in self._client.batches.store.iter_results(self.id):
            yield from chunk

    def export(self, fmt: str, include_input: bool = True) -> Iterator[bytes]:
        batches, owner = self._client.batches, self._client.owner
        if fmt == "json":  # the service's json output is one page; a file gets every item
            return json_array(batches.output(self.id, owner, "jsonl", include_input=include_input))
        return batches.output(self.id, owner, fmt, include_input=include_input)
