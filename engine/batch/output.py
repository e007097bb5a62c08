"""A batch's output in json, jsonl, csv or parquet, with or without the input's columns.

By default a batch made from rows (a file, a DataFrame, items with metadata)
gives its input back beside the results (see loaders.output_shape);
`include_input=False`, or a batch of plain items, gives the narrow shape:
index, id, status, the result, the error. Every format but json streams
frame by frame from the store (a join of input parts and results, in item
order), so memory stays bounded at 1M items.
"""

from __future__ import annotations

import json
from typing import Iterator

from engine.errors import InvalidRequest
from engine.responses import OutputPage
from engine.store.outcome_rows import output_records
from loaders import (
    OUTPUT_FORMATS,
    ItemFrames,
    OutputShape,
    iter_csv_frames,
    iter_flat_csv,
    iter_jsonl_frames,
    iter_parquet,
    type_of_values,
)
from loaders import result_fields as fields_of_result

MAX_JSON_PAGE = 10_000


def check_output_request(fmt: str, offset: int, limit: int | None) -> int | None:
    """The page's limit (json: at most MAX_JSON_PAGE, 10,000 by default); InvalidRequest if the query is bad."""
    if fmt not in OUTPUT_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(OUTPUT_FORMATS)}", field="format")
    if fmt == "json":
        limit = MAX_JSON_PAGE if limit is None else limit
        if not 1 <= limit <= MAX_JSON_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_JSON_PAGE}", field="limit")
    elif limit is not None and limit < 0:
        raise InvalidRequest("limit must be 0 or more", field="limit")
    if offset < 0:
        raise InvalidRequest("offset must be 0 or more", field="offset")
    return limit


def output_shape(meta: dict, include_input: bool = True) -> OutputShape:
    """The batch's output columns: its input's (if asked and it has any), then its result fields."""
    return OutputShape.of(meta.get("input_columns") if include_input else None, stored_result_fields(meta))


def stored_result_fields(meta: dict) -> list[dict]:
    """The result fields stored with the batch; for a batch stored before them, from its result columns (as text)."""
    if meta.get("result_fields"):
        return meta["result_fields"]
    columns = meta.get("result_columns")
    if columns == ["result"] or not columns:
        return fields_of_result(None, None, expect_json=bool(columns is None))
    return fields_of_result(None, columns, expect_json=True)


ANSWER_COLUMNS = ("model", "confidence")  # in the JSON and JSONL records only


def export(store, batch_id: str, meta: dict, fmt: str, offset: int = 0, limit: int | None = None,
           include_input: bool = True) -> Iterator[bytes]:
    """The output of `batch_id` in `fmt` as bytes pieces (checked by check_output_request first)."""
    limit = check_output_request(fmt, offset, limit)
    shape = output_shape(meta, include_input)
    if fmt == "json":
        page = json_page(store, batch_id, meta, shape, offset, limit)
        return iter([json.dumps(page, ensure_ascii=False).encode()])
    if fmt == "parquet":
        rows = store.iter_output_frames(batch_id, offset=offset, limit=limit)
        return iter_parquet((shape.flat(frame) for frame in rows), shape.schema(), store.scratch_dir())
    if not shape.with_input:  # the narrow shape, as before input columns existed
        frames = store.iter_result_frames(batch_id, offset=offset, limit=limit)
        if fmt == "jsonl":
            return iter_jsonl_frames(frames)
        # CSV keeps its columns: a label's own confidence is there, and a second would be renamed.
        return iter_csv_frames((frame.drop(ANSWER_COLUMNS) for frame in frames),
                               result_columns=meta.get("result_columns"))
    rows = store.iter_output_frames(batch_id, offset=offset, limit=limit)
    if fmt == "jsonl":
        return iter_jsonl_frames(map(shape.with_input_struct, rows), with_input=True)
    return iter_flat_csv((shape.flat(frame) for frame in rows), shape.names())


def json_page(store, batch_id: str, meta: dict, shape: OutputShape, offset: int, limit: int) -> dict:
    """One page of output records, with the batch's status; records carry "input" in the shape with input."""
    records = []
    for frame in store.iter_output_frames(batch_id, offset=offset, limit=limit):
        page = output_records(frame)
        if shape.with_input:
            inputs = shape.with_input_struct(frame)["input"].to_list()
            for record, values in zip(page, inputs):
                record["input"] = values
        records += page
    total = meta.get("total_items", 0)
    following = offset + len(records)
    return OutputPage(
        batch_id=batch_id, status=meta["status"], partial=meta["status"] != "completed", total_items=total,
        offset=offset, limit=limit, next_offset=following if following < total else None, columns=shape.names(),
        results=records,
    ).model_dump(mode="json")


def item_frames(frame, items: list) -> ItemFrames:
    """An API batch's item frame, with its input columns when some item has metadata (else none: narrow)."""
    metadata = [item.metadata or {} for item in items]
    if not any(metadata):
        return ItemFrames([frame])
    keys = list(dict.fromkeys(key for values in metadata for key in values))
    columns = [{"name": "content", "role": "content", "type": "string"}]
    if any(item.id is not None for item in items):
        columns.append({"name": "id", "role": "id", "type": "string"})
    # A metadata key named content or id would repeat a column name: it keeps its place under a prefix.
    columns += [{"name": key if key not in ("content", "id") else f"metadata_{key}", "key": key, "role": "metadata",
                 "type": type_of_values(values.get(key) for values in metadata)} for key in keys]
    return ItemFrames([frame], columns)
