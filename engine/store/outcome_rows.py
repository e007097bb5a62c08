"""Outcome rows as Polars frames: Outcomes as rows, their schema, the check on write, which record wins, output records.

Pure: no files. engine.store.batch_store decides where the frames come from and go to.
"""

from __future__ import annotations

import json
from typing import Sequence

import polars as pl

from engine.outcome import ITEM_STATUSES, ItemStatus, Outcome, ReuseSource
from loaders import parse_json

OUTCOME_SCHEMA = {
    "index": pl.Int64, "status": pl.String, "result": pl.String, "error_type": pl.String,
    "error_message": pl.String, "attempts": pl.Int32, "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64, "latency_ms": pl.Float64, "cached": pl.Boolean, "model": pl.String,
    "confidence": pl.Float64, "provider": pl.String,
}
# A row of output, before its result is parsed: what BatchStore.iter_result_frames yields, in this order.
OUTPUT_COLUMNS = ("index", "id", "status", "result", "error_type", "error_message", "attempts", "cached", "model",
                  "confidence", "provider")
# The same with the item's input (as loaders.output_shape reads it): what BatchStore.iter_output_frames yields.
OUTPUT_ROW_COLUMNS = ("index", "id", "content", "metadata", "status", "result", "error_type", "error_message",
                      "attempts", "cached", "model", "confidence", "provider")

_STATUS = pl.Enum(ITEM_STATUSES)


def outcomes_frame(outcomes: Sequence[Outcome]) -> pl.DataFrame:
    """`outcomes` as rows of OUTCOME_SCHEMA (built column-wise; the result as compact JSON text)."""
    return pl.DataFrame({
        "index": [o.index for o in outcomes],
        "status": [o.status.value for o in outcomes],
        "result": [None if o.result is None else _json(o.result) for o in outcomes],
        "error_type": [o.error_type for o in outcomes],
        "error_message": [o.error_message for o in outcomes],
        "attempts": [o.attempts for o in outcomes],
        "prompt_tokens": [o.prompt_tokens for o in outcomes],
        "completion_tokens": [o.completion_tokens for o in outcomes],
        "latency_ms": [o.latency_ms for o in outcomes],
        "cached": [o.reused is ReuseSource.CACHE for o in outcomes],
        "model": [o.model for o in outcomes],
        "confidence": [o.confidence for o in outcomes],
        "provider": [o.provider for o in outcomes],
    }, schema=OUTCOME_SCHEMA)


def cancelled_frame(indexes: pl.Series, reason: str) -> pl.DataFrame:
    """Rows that end the items at `indexes` as cancelled, for `reason` (vectorised: no Outcome each)."""
    frame = pl.DataFrame({"index": indexes.cast(pl.Int64)})
    return conform(frame.with_columns(status=pl.lit(ItemStatus.CANCELLED.value), error_type=pl.lit("cancelled"),
                                      error_message=pl.lit(reason), attempts=pl.lit(0), prompt_tokens=pl.lit(0),
                                      completion_tokens=pl.lit(0), latency_ms=pl.lit(0.0), cached=pl.lit(False)),
                   OUTCOME_SCHEMA)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def outcome_frame(outcomes: pl.DataFrame | list[dict]) -> pl.DataFrame:
    """Outcomes in OUTCOME_SCHEMA, sorted by index; ValueError if malformed."""
    frame = outcomes if isinstance(outcomes, pl.DataFrame) else pl.DataFrame(outcomes, schema=OUTCOME_SCHEMA)
    if frame.columns != list(OUTCOME_SCHEMA) or frame.dtypes != list(OUTCOME_SCHEMA.values()):
        frame = conform(frame, OUTCOME_SCHEMA)
    if not frame["index"].is_sorted():
        frame = frame.sort("index", maintain_order=True)  # stable: keeps write order
    index, status = frame["index"], frame["status"]
    try:
        status.cast(_STATUS)  # strict: an unknown status raises; the cheapest check here
    except pl.exceptions.InvalidOperationError:
        status = None
    if status is None or status.null_count() or index.null_count() or (len(index) and index[0] < 0):
        raise ValueError(f"every outcome needs an index >= 0 and a status in {ITEM_STATUSES}")
    return frame


def conform(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """`frame` with exactly `schema`'s columns (missing ones null), cast to its types."""
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
    )


def winners(scans: list[pl.LazyFrame], where: pl.Expr | None = None) -> pl.LazyFrame:
    """One record per index, sorted by index, from outcome frames in write order.

    The first `completed` record of an index wins; if it has none, its first record wins.
    """
    if not scans:
        return pl.LazyFrame(schema=OUTCOME_SCHEMA)
    scan = pl.concat(scans, how="diagonal")  # rows in write order; files written before a column was added lack it
    if where is not None:
        scan = scan.filter(where)
    ranked = scan.sort("index", pl.col("status") != "completed", maintain_order=True)  # stable
    return ranked.filter(pl.col("index").is_first_distinct())


def output_records(frame: pl.DataFrame) -> list[dict]:
    """Output records of a frame of OUTPUT_COLUMNS (built column-wise: 1M rows in seconds)."""
    columns = frame.to_dict(as_series=False)
    rows = zip(*(columns[name] for name in OUTPUT_COLUMNS))
    return [
        {"index": index, "id": id_, "status": status, "result": None if result is None else parse_json(result),
         "error": None if kind is None else {"type": kind, "message": message}, "attempts": attempts,
         "cached": cached, "model": model, "confidence": confidence, "provider": provider}
        for index, id_, status, result, kind, message, attempts, cached, model, confidence, provider in rows
    ]


