"""Files in, items out; results in, json/jsonl/csv/parquet out. A plain library: no HTTP, no Ray.

This module is the seam between the loaders and the rest: the engine and the
service import only the names below, and the loaders import nothing of the
engine but its contract (`engine.errors`).
"""

from loaders.csv_export import iter_flat_csv
from loaders.export import (
    OUTPUT_FORMATS,
    iter_csv,
    iter_csv_frames,
    iter_jsonl,
    iter_jsonl_frames,
    write_json,
    write_results,
)
from loaders.frames import parse_json, rechunk
from loaders.input_columns import ItemFrames, columns_of_schema, type_of_values
from loaders.items import dataframe_input_columns, dataframe_items
from loaders.output_shape import OutputShape, result_expr, result_fields
from loaders.parquet_export import iter_parquet
from loaders.read import read_items, read_items_list
from loaders.source import FORMATS, upload_suffix

__all__ = [
    "FORMATS", "OUTPUT_FORMATS", "ItemFrames", "OutputShape", "columns_of_schema", "dataframe_input_columns", "dataframe_items", "iter_csv",
    "iter_csv_frames", "iter_flat_csv", "iter_jsonl", "iter_jsonl_frames", "iter_parquet", "parse_json",
    "read_items", "read_items_list", "rechunk", "result_expr", "result_fields", "type_of_values", "upload_suffix",
    "write_json", "write_results",
]
