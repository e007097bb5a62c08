"""Files in, items out; results in, json/jsonl/csv out. A plain library: no HTTP, no Ray."""

from loaders.export import iter_csv, iter_jsonl, write_json, write_results
from loaders.read import read_items, read_items_list
from loaders.source import FORMATS

__all__ = ["FORMATS", "iter_csv", "iter_jsonl", "read_items", "read_items_list", "write_json", "write_results"]
