"""`HTTPClient`: the driver's interface over the HTTP API of a running service.

    client = HTTPClient("http://127.0.0.1:8000", api_key=None)
    batch = client.submit("reviews.csv", operation="label", categories=["positive", "negative"])
    batch.wait()                      # follows GET /api/batches/{id}/events, a bar on stderr
    frame = batch.results()           # GET .../output?format=jsonl, streamed

An error answer becomes the engine's own exception (`NotFound`, `Conflict`,
`InvalidRequest` with its `field`, ...) carrying the server's message, plus
`status` and `details`; an unreachable service is `ServiceUnreachable`.

httpx2 rather than httpx: the same API, and it is a runtime dependency of the
package (httpx is a test-only one).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx2 as httpx

from engine.errors import (
    AgentFlowError,
    BadRequest,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from engine.sdk.batch_handle import BatchHandle
from engine.sdk.inputs import LOADER_OPTIONS, is_path, item_dicts
from engine.sdk.results import json_array
from engine.sdk.sync_operations import SyncOperations

_KNOWN = {cls.code: cls for cls in (InvalidRequest, BadRequest, PayloadTooLarge, NotFound, Conflict, Unauthorized,
                                    ConfigurationError)}
SSE_READ_SECONDS = 40.0  # longer than the server's 15 s keep-alive: a silent stream means a lost connection


class APIError(AgentFlowError):
    """An error answer of a type this client does not know (e.g. a 500 with its incident id)."""

    def __init__(self, message: str, code: str = "api_error", status: int = 500, field: str | None = None):
        super().__init__(message, field)
        self.code, self.status_code = code, status

    def __reduce__(self):
        return (type(self), (self.message, self.code, self.status_code, self.field))


class ServiceUnreachable(AgentFlowError):
    """The service did not answer (wrong URL, not running, network down)."""

    code = "service_unreachable"


class ConnectionLost(ServiceUnreachable):
    """A streamed answer stopped half-way (a timeout, a reset): asking again may work."""

    code = "connection_lost"


def api_error(response: httpx.Response) -> AgentFlowError:
    """The exception for an error answer: the engine's class for its type, with the server's words."""
    try:
        body = response.json()["error"]
        code, message = body["type"], body["message"]
    except (ValueError, KeyError, TypeError):
        return APIError(f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code)
    field = body.get("field")
    if code in _KNOWN:
        exc = _KNOWN[code](message, field=field)
    else:
        exc = APIError(message, code, response.status_code, field)
    exc.status = response.status_code
    exc.details = body.get("details")  # every invalid field, as the server listed them
    return exc


def form_value(value: Any) -> str:
    """A parameter as a multipart form field of POST /api/files."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


class HTTPClient(SyncOperations):
    """The same interface as `engine.connect()`'s `Client`, over HTTP."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60):
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _sync(self, operation: str, items: list[dict], params: dict) -> dict:
        body = {"items": items, **params}
        return self.request("POST", f"/api/completions/{operation}", json=body).json()

    # ---- batches ----------------------------------------------------------------

    def submit(self, items, operation: str, idempotency_key: str | None = None, **params) -> "HTTPBatch":
        """Submit a batch: a file path is uploaded (POST /api/files), items or a DataFrame posted as JSON.

        Same arguments as `Client.submit`; `idempotency_key` is sent as the
        Idempotency-Key header (a retry with it returns the first batch).
        """
        if params.get("dry_run"):
            raise InvalidRequest("dry_run gives an estimate, not a batch: POST /api/batches with dry_run=true",
                                 field="dry_run")
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        if is_path(items):
            response = self._upload(Path(items), operation, params, headers)
        else:
            columns = {name: params.pop(name) for name in LOADER_OPTIONS if name in params}
            if columns.pop("format", None) is not None:
                raise InvalidRequest("format applies to a file path only", field="format")
            body = {"operation": operation, "items": item_dicts(items, **columns), **params}
            response = self.request("POST", "/api/batches", json=body, headers=headers)
        return HTTPBatch(self, response.json()["batch_id"])

    def _upload(self, path: Path, operation: str, params: dict, headers: dict) -> httpx.Response:
        if not path.is_file():
            raise InvalidRequest(f"no such file: {path}", field="file")
        fields = {"operation": operation}
        for name, value in params.items():
            if value is not None:
                # metadata_columns is a comma list in the form (not JSON).
                listed = name == "metadata_columns" and isinstance(value, (list, tuple))
                fields[name] = ",".join(value) if listed else form_value(value)
        with open(path, "rb") as handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            return self.request("POST", "/api/files", data=fields, files=files, headers=headers)

    def batch(self, batch_id: str) -> "HTTPBatch":
        """The handle of an existing batch."""
        return HTTPBatch(self, batch_id)

    def list_batches(self, limit: int = 100) -> list[dict]:
        """Your batches, newest first."""
        return self.request("GET", "/api/batches", params={"limit": limit}).json()["batches"]

    # ---- plumbing ---------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One request; an error answer or a transport failure raises (see the module docstring)."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnreachable(f"cannot reach the AgentFlow service at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise api_error(response)
        return response

    def stream_lines(self, path: str, params: dict | None = None, read_timeout: float | None = None) -> Iterator[str]:
        """The lines of a streamed answer, read as they arrive."""
        with self._stream(path, params, read_timeout) as response:
            yield from response.iter_lines()

    def stream_bytes(self, path: str, params: dict | None = None) -> Iterator[bytes]:
        """The body of a streamed answer, in chunks as they arrive."""
        with self._stream(path, params, None) as response:
            yield from response.iter_bytes()

    @contextmanager
    def _stream(self, path: str, params: dict | None, read_timeout: float | None) -> Iterator[httpx.Response]:
        """A streamed GET; transport failures while it is open (reading included) are translated."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout or self._http.timeout.read)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise api_error(response)
                yield response
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServiceUnreachable(f"cannot reach the AgentFlow service at {self.base_url}: {exc}") from None
        except httpx.TransportError as exc:
            raise ConnectionLost(f"lost the connection to {self.base_url}: {type(exc).__name__} {exc}") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "HTTPClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HTTPBatch(BatchHandle):
    """A batch seen through the HTTP API."""

    def __init__(self, client: HTTPClient, batch_id: str):
        super().__init__(batch_id)
        self._client = client
        self._path = f"/api/batches/{batch_id}"

    def status(self) -> dict:
        return self._client.request("GET", self._path).json()

    def cancel(self) -> dict:
        return self._client.request("POST", f"{self._path}/cancel").json()

    def retry(self) -> dict:
        """Re-run the failed items of a finished batch."""
        return self._client.request("POST", f"{self._path}/retry").json()

    def records(self) -> Iterator[dict]:
        for line in self._client.stream_lines(f"{self._path}/output", {"format": "jsonl"}):
            if line.strip():
                yield json.loads(line)

    def export(self, fmt: str, include_input: bool = True) -> Iterator[bytes]:
        query = {"include_input": "true" if include_input else "false"}
        if fmt == "json":  # the service's json output is one page; a file gets every item
            return json_array(self._client.stream_bytes(f"{self._path}/output", {"format": "jsonl", **query}))
        return self._client.stream_bytes(f"{self._path}/output", {"format": fmt, **query})

    def updates(self, deadline: float | None) -> Iterator[dict]:
        """Statuses pushed by GET /api/batches/{id}/events; reconnects if the stream drops."""
        while deadline is None or time.monotonic() < deadline:
            remaining = SSE_READ_SECONDS if deadline is None else max(deadline - time.monotonic(), 0.1)
            try:
                for event, data in _events(self._client.stream_lines(
                        f"{self._path}/events", read_timeout=min(remaining, SSE_READ_SECONDS))):
                    if event in ("progress", "end"):
                        yield json.loads(data)
                    if deadline is not None and time.monotonic() >= deadline:
                        return
            except ConnectionLost:
                pass  # a silent or dropped stream: connect again (or stop at the deadline)
            time.sleep(self.poll_seconds)


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events as (event, data); comments (keep-alives) are skipped."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)

