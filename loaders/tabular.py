"""CSV, TSV and Parquet files as Tables of DataFrame chunks, read in bounded memory.

CSV goes through pyarrow's streaming reader rather than polars' scan_csv:
polars 2.1 silently fills a row that has too few fields with nulls (or empty
strings), so a ragged file would load shifted data; pyarrow rejects it. Neither
names the line, so on a parse error the file is scanned again (see csv_errors).
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from engine.errors import InvalidRequest
from loaders.columns import no_items
from loaders.csv_errors import explain_csv_error
from loaders.items import Table

# pyarrow parses whole blocks, so this is the longest CSV row it reads. It also
# bounds memory: the reader runs ~30 blocks ahead (8 MB blocks: ~300 MB).
CSV_BLOCK_BYTES = 2 << 20


def read_csv(stream: BinaryIO, separator: str) -> Table:
    """A CSV/TSV file whose every column is read as text ("007" stays "007")."""
    header = _read_header(stream, separator)
    return Table(header, header, _csv_frames(stream, separator, header))


def _read_header(stream: BinaryIO, separator: str) -> list[str]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        # pyarrow skips blank lines before the header too
        header = next((row for row in csv.reader(text, delimiter=separator) if row), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise explain_csv_error(stream, separator, None, str(exc)) from None
    finally:
        text.detach()  # leave the stream open for pyarrow
    if not header:
        raise no_items([])
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InvalidRequest(f"the header repeats the column names: {', '.join(duplicates)}", field="file")
    stream.seek(0)
    return header


def _csv_frames(stream: BinaryIO, separator: str, header: list[str]) -> Iterator[pl.DataFrame]:
    read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=True)
    parse_options = pa_csv.ParseOptions(delimiter=separator, newlines_in_values=True)
    convert_options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in header},
                                            strings_can_be_null=False)
    try:
        reader = pa_csv.open_csv(stream, read_options=read_options, parse_options=parse_options,
                                 convert_options=convert_options)
        for batch in reader:
            yield pl.from_arrow(batch)
    except pa.ArrowInvalid as exc:
        raise explain_csv_error(stream, separator, len(header), _reason(exc)) from None


def _reason(exc: pa.ArrowInvalid) -> str:
    reason = str(exc).strip().splitlines()[0]
    if "straddl" in reason:  # pyarrow's words for a row that does not fit in one block
        return f"a row is longer than {CSV_BLOCK_BYTES / 2**20:g} MiB, or a quote is never closed"
    return reason


def read_parquet(stream: BinaryIO, chunk_rows: int) -> Table:
    """A Parquet file, read one row batch at a time."""
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidRequest(f"not a readable Parquet file: {exc}", field="file") from None
    schema = pl.from_arrow(parquet.schema_arrow.empty_table()).schema
    text_columns = [name for name, dtype in schema.items() if dtype == pl.String]
    batches = parquet.iter_batches(batch_size=chunk_rows)
    return Table(list(schema), text_columns, (pl.from_arrow(batch) for batch in batches))
