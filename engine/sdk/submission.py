"""What `submit()` and the sync calls of the driver make of their arguments, before any Ray.

The batch's frames (a file path, a DataFrame or a list of items), its controls,
and the operation's validated parameters.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import polars as pl
from pydantic import BaseModel, ValidationError

from engine.batch.output import item_frames
from engine.batch.service import items_frame
from engine.errors import InvalidRequest, invalid_request_of
from engine.models import CONTROL_FIELDS, BatchControls
from engine.sdk.inputs import input_frame, is_path, parse_items, reject_columns
from loaders import ItemFrames, dataframe_input_columns


def validated(model: type[BaseModel], data: dict) -> BaseModel:
    """`data` validated by `model`; a pydantic error as our InvalidRequest."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request_of(exc) from None


def batch_frames(items: Any, loader: dict) -> Iterable[pl.DataFrame]:
    """The input frames of a file path, a DataFrame or a list of items (`loader`: format and columns),
    carrying the input columns that the batch's output gives back (see loaders.ItemFrames)."""
    if is_path(items):
        from loaders import read_items

        if not os.path.isfile(items):
            raise InvalidRequest(f"no such file: {os.fspath(items)}", field="items")
        return read_items(os.fspath(items), loader.pop("format", None), **loader)
    if loader.pop("format", None) is not None:
        raise InvalidRequest("format applies to a file path only", field="format")
    if isinstance(items, pl.DataFrame):
        return ItemFrames([input_frame(items, **loader)], dataframe_input_columns(items, **loader))
    reject_columns(loader)
    parsed = parse_items(items)
    return item_frames(items_frame(parsed), parsed)


def pop_controls(params: dict[str, Any]) -> BatchControls:
    """Pop the batch controls out of `params`."""
    if params.pop("dry_run", False):
        raise InvalidRequest("dry_run is not a batch: estimate with POST /api/batches and dry_run=true",
                             field="dry_run")
    return validated(BatchControls, {name: params.pop(name) for name in CONTROL_FIELDS if name in params})
