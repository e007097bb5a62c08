"""`SyncOperations`: the five sync operations, shared by the driver and the HTTP client."""

from __future__ import annotations

from engine.errors import InvalidRequest
from engine.sdk.inputs import COLUMN_OPTIONS, is_path, item_dicts


class SyncOperations:
    """The five sync operations (up to 50 items each), shared by the driver and the HTTP client.

    Each returns the API's response: {"results": [...], "model", "usage", "estimated_cost"}.
    """

    def label(self, items, categories: list, **params) -> dict:
        """Classify items against `categories` (`multi_label`, `include_rationale`, ...)."""
        return self._call("label", items, {"categories": categories, **params})

    def summarize(self, items, **params) -> dict:
        """Summarize items (`summary_instructions`, `response_format`, ...)."""
        return self._call("summarize", items, params)

    def extract(self, items, **params) -> dict:
        """Extract fields from items (`extraction_instructions` is required)."""
        return self._call("extract", items, params)

    def enrich(self, items, **params) -> dict:
        """Add typed `fields` to items."""
        return self._call("enrich", items, params)

    def run(self, items, **params) -> dict:
        """Any `system_prompt` + `user_prompt_template` + `response_format`."""
        return self._call("run", items, params)

    def _call(self, operation: str, items, params: dict) -> dict:
        """`items`: a list of dicts or strings, or a DataFrame (whose columns `COLUMN_OPTIONS` choose)."""
        if is_path(items):
            raise InvalidRequest("sync operations take a list of items (dicts or strings) or a DataFrame; "
                                 "a single string is read as a file path, which is for submit()", field="items")
        columns = {name: params.pop(name) for name in COLUMN_OPTIONS if name in params}
        return self._sync(operation, item_dicts(items, **columns), params)

    def _sync(self, operation: str, items: list[dict], params: dict) -> dict:
        raise NotImplementedError
