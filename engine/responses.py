"""Response models: what every JSON answer of the API is built through, and what OpenAPI documents.

A field declared with `exclude_if=_absent_if_none` is left out of the JSON
when None, as the API has always answered (a status's `reason` and `error`,
an error's `field` and `details`); the other fields are null when unknown.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ItemError(BaseModel):
    type: str
    message: str


def _absent_if_none(value: Any) -> bool:
    """For fields the JSON leaves out when they are None (as the API has always answered)."""
    return value is None


class CascadeStatus(BaseModel):
    """What a cascade decided and spent (a batch's status, a sync response)."""

    models: list[str] = Field(description="[cheap, strong].")
    threshold: float | None = Field(
        description="The cheap model's answers at or above this confidence were kept; null: none qualified "
                    "(or not learned yet), the strong model answers.")
    sample_items: int = Field(description="Items both models answered to learn the threshold.")
    escalated_items: int = Field(description="Items past the sample sent to the strong model.")
    cost: float | None = Field(description="USD spent on both models (estimate).")
    strong_only_cost: float | None = Field(
        description="USD the strong model alone would have cost: each kept answer's tokens at its price.")


class SyncResponse(BaseModel):
    results: list[dict[str, Any]] = Field(
        description="One entry per item, in order: the result fields, or {\"error\": {...}}."
    )
    model: str
    usage: Usage
    estimated_cost: float | None = Field(default=None, description="USD, from usage and the price table.")
    cascade: CascadeStatus | None = Field(default=None, exclude_if=_absent_if_none,
                                          description="A cascade's threshold and costs (only with cascade).")


class ErrorBody(BaseModel):
    type: str
    message: str
    field: str | None = Field(default=None, exclude_if=_absent_if_none)
    details: list[dict[str, Any]] | None = Field(default=None, exclude_if=_absent_if_none)


class ErrorResponse(BaseModel):
    error: ErrorBody


BatchState = Literal["queued", "processing", "completed", "failed", "cancelling", "cancelled"]
FINISHED_STATES: tuple[BatchState, ...] = ("completed", "failed", "cancelled")  # a batch in one of these runs no more


class BatchCreated(BaseModel):
    batch_id: str
    status: BatchState = Field(description="queued for a new batch; the current status for a repeated key")
    total_items: int


class Concurrency(BaseModel):
    limit: int | None = Field(description="Requests in flight allowed to the provider, cluster-wide; "
                                          "null while its rate limits govern it.")
    in_flight: int = Field(description="Requests in flight to the provider now, from every batch.")
    source: Literal["adaptive", "configured", "rate_limits"]


class BatchStatus(BaseModel):
    batch_id: str
    status: BatchState
    operation: str | None = None
    model: str | None = None
    total_items: int
    completed_items: int
    failed_items: int
    cancelled_items: int
    progress_percentage: float
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    usage: Usage
    items_per_second: float
    eta_seconds: float | None = None
    estimated_cost: float | None = Field(default=None, description="USD spent so far (estimate).")
    projected_cost: float | None = Field(default=None, description="USD for the whole batch at the current rate.")
    cached_items: int = 0
    folded_items: int = 0
    concurrency: Concurrency | None = Field(
        default=None, description="The provider's concurrency limit, as last seen while the batch ran "
                                  "(null before it starts).")
    reason: str | None = Field(default=None, exclude_if=_absent_if_none,
                               description="Why a batch was cancelled (only while cancelling or cancelled).")
    error: ErrorBody | None = Field(default=None, exclude_if=_absent_if_none,
                                    description="Why a failed batch failed.")
    cascade: CascadeStatus | None = Field(default=None, exclude_if=_absent_if_none,
                                          description="A cascade batch's threshold, escalations and costs.")


class DryRunEstimate(BaseModel):
    dry_run: Literal[True]
    operation: str
    model: str
    total_items: int
    estimated_input_tokens: int
    estimated_output_tokens: int
    estimated_cost: float | None
    cascade_cost_range: list[float] | None = Field(
        default=None, exclude_if=_absent_if_none,
        description="A cascade's [lowest, highest] cost: cheap on all and strong on the sample, up to both on all.")


class BatchList(BaseModel):
    batches: list[BatchStatus]


class OutputRecord(BaseModel):
    index: int
    id: str | None = None
    status: Literal["completed", "failed", "cancelled", "pending"]
    result: Any = None
    error: ItemError | None = None
    attempts: int = 0
    cached: bool = False
    model: str | None = Field(default=None, description="The model that answered (as the provider names it).")
    confidence: float | None = Field(default=None, description="The answer's confidence, where known.")
    provider: str | None = Field(default=None, description="The provider that was called last for the item (its "
                                                          "answer's, when completed): a fallback's name when the "
                                                          "first provider was out.")
    input: dict[str, Any] | None = Field(
        default=None, exclude_if=_absent_if_none,
        description="The item's input columns under their own names (a batch made from rows, unless "
                    "include_input=false); left out otherwise.")


class OutputPage(BaseModel):
    batch_id: str
    status: BatchState
    partial: bool = Field(description="True unless the batch has completed: while it runs (more results may "
                                      "come), and after a cancel or a failure (some items have no result).")
    total_items: int
    offset: int
    limit: int
    next_offset: int | None
    columns: list[str] = Field(default=[], description="The columns of this output in csv and parquet, in order.")
    results: list[OutputRecord]


class ValueCount(BaseModel):
    value: Any = Field(description="A value of the field (null: the item has none).")
    items: int


class FieldValues(BaseModel):
    field: str
    counts: list[ValueCount] = Field(description="The most frequent values first (at most 30).")
    other_items: int = Field(description="Items with a value not listed.")


class ErrorGroup(BaseModel):
    type: str
    items: int
    example: str | None = Field(description="The message of one of these items.")


class RatePoint(BaseModel):
    seconds: float = Field(description="Since the run started.")
    items_per_second: float


class BatchSummary(BaseModel):
    """What the dashboard shows of a batch's results."""

    batch_id: str
    status: BatchState
    total_items: int
    completed_items: int
    failed_items: int
    cancelled_items: int
    values: list[FieldValues] = Field(description="Per label or categorical field: how many items got each value.")
    errors: list[ErrorGroup] = Field(description="The failed items by error type, most first.")
    throughput: list[RatePoint] = Field(description="Items/s over the latest run.")
