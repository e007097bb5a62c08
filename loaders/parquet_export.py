"""Output as Parquet, typed (see loaders.output_shape), streamed in bounded memory.

A Parquet file ends with its footer, written once every row group is, so the
writer needs a file it can seek: the frames are written one row group at a
time to a temporary file, which is then streamed back in pieces and removed
(also when the reader stops early).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl
import pyarrow.parquet as pq

READ_BYTES = 1 << 20
# The oldest Arrow types (large_string, not string_view): what every Parquet reader knows.
_COMPAT = pl.CompatLevel.oldest()


def iter_parquet(frames: Iterable[pl.DataFrame], schema: pl.Schema, directory: Path) -> Iterator[bytes]:
    """Frames of typed output columns (all of `schema`) as one Parquet file's bytes, in pieces.

    An output of no rows is still a file with every column of `schema`.
    """
    handle, name = tempfile.mkstemp(prefix=".export-", suffix=".parquet", dir=directory)
    os.close(handle)
    try:
        arrow_schema = pl.DataFrame(schema=schema).to_arrow(compat_level=_COMPAT).schema
        with pq.ParquetWriter(name, arrow_schema, compression="zstd") as writer:
            for frame in frames:
                if frame.height:
                    writer.write_table(frame.to_arrow(compat_level=_COMPAT).cast(arrow_schema))
        with open(name, "rb") as file:
            while piece := file.read(READ_BYTES):
                yield piece
    finally:
        os.unlink(name)
