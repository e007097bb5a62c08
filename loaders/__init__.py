"""Files in, items out; results in, json/jsonl/csv out. A plain library: no HTTP, no Ray.

This module is the seam between the loaders and the rest: the engine and the
service import only the names below, and the loaders import nothing of the
engine but its contract (`engine.errors`).
"""

from loaders.export import (
    iter_csv,
    iter_csv_frames,
    iter_jsonl,
    iter_jsonl_frames,
    write_json,
    write_results,
)
from loaders.frames import parse_json, rechunk
from loaders.items import dataframe_items
from loaders.read import read_items, read_items_list
from loaders.source import FORMATS, upload_suffix

__all__ = [
    "FORMATS", "dataframe_items", "iter_csv", "iter_csv_frames", "iter_jsonl", "iter_jsonl_frames", "parse_json",
    "read_items", "read_items_list", "rechunk", "upload_suffix", "write_json", "write_results",
]
