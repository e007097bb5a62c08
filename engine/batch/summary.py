"""What the dashboard shows of a batch's results: value counts, error groups, items/s over the run.

Aggregated by Polars over the winning records (one per item), without a row
in Python: about a second at 1M items.
"""

from __future__ import annotations

import polars as pl

from engine.batch.output import stored_result_fields
from engine.batch.samples import rates
from loaders import result_expr

MAX_VALUES = 30  # distinct values listed per field; the rest are counted together
MAX_ERROR_TYPES = 30


def summarise(store, batch_id: str, meta: dict) -> dict:
    """{"values": per categorical result field, its values' counts; "errors": failed items by error type;
    "throughput": items/s over the run}, with the batch's counts."""
    fields = [field for field in stored_result_fields(meta) if field.get("categorical")]
    for attempt in range(3):
        try:
            winners = store.scan_winners(batch_id)
            frames = pl.collect_all([*(value_counts(winners, field) for field in fields), error_groups(winners)])
            break
        except FileNotFoundError:  # a compaction removed the files listed: list them again
            if attempt == 2:
                raise
    *counted, errors = frames
    return {
        "batch_id": batch_id,
        "status": meta["status"],
        "total_items": meta.get("total_items", 0),
        "completed_items": meta.get("completed_items", 0),
        "failed_items": meta.get("failed_items", 0),
        "cancelled_items": meta.get("cancelled_items", 0),
        "values": [_listed(field["name"], frame) for field, frame in zip(fields, counted)],
        "errors": errors.head(MAX_ERROR_TYPES).to_dicts(),
        "throughput": rates(meta.get("progress_samples") or []),
    }


def value_counts(winners: pl.LazyFrame, field: dict) -> pl.LazyFrame:
    """How many completed items got each value of `field` (each item of a list counts), most first."""
    values = winners.filter(pl.col("status") == "completed").select(result_expr(field).alias("value"))
    if field["type"].startswith("list["):
        values = values.explode("value")
    counts = values.group_by("value").agg(pl.len().alias("items"))
    return counts.sort("items", "value", descending=[True, False], nulls_last=True)


def error_groups(winners: pl.LazyFrame) -> pl.LazyFrame:
    """The failed items by error type: how many, and one message as an example, most first."""
    failed = winners.filter(pl.col("status") == "failed")
    groups = failed.group_by(pl.col("error_type").fill_null("error").alias("type")).agg(
        pl.len().alias("items"), pl.col("error_message").drop_nulls().first().alias("example"))
    return groups.sort("items", "type", descending=[True, False])


def _listed(name: str, counts: pl.DataFrame) -> dict:
    shown = counts.head(MAX_VALUES)
    return {"field": name, "counts": shown.to_dicts(), "other_items": int(counts["items"].sum() - shown["items"].sum())}
