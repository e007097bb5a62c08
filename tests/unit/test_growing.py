"""loaders.growing: a file read while it is written (pure: no Ray, no HTTP)."""

import io
import threading
import time

import polars as pl
import pytest

from loaders import read_items
from loaders.growing import GrowingFile, UploadAborted


def write_later(growing: GrowingFile, pieces: list[bytes], end: str = "finish") -> threading.Thread:
    """Append `pieces` to the file from another thread, a little apart, then finish or abort."""

    def run():
        size = 0
        with open(growing.path, "ab") as out:
            for piece in pieces:
                time.sleep(0.01)
                out.write(piece)
                out.flush()
                size += len(piece)
                growing.grew(size)
        getattr(growing, end)()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reader_waits_for_the_bytes_and_sees_the_end_only_when_finished(tmp_path):
    growing = GrowingFile(tmp_path / "a.txt")
    growing.path.touch()
    thread = write_later(growing, [b"one ", b"two ", b"three"])
    with growing.open() as stream:
        assert stream.read() == b"one two three"
        stream.seek(0)
        assert stream.read(3) == b"one"
    thread.join()


def test_a_seek_from_the_end_waits_for_the_whole_file(tmp_path):
    growing = GrowingFile(tmp_path / "a.bin")
    growing.path.touch()
    thread = write_later(growing, [b"x" * 10, b"y" * 5])
    with growing.open() as stream:
        assert stream.seek(-5, io.SEEK_END) == 10
        assert stream.read() == b"yyyyy"
    thread.join()


def test_an_abort_stops_a_waiting_reader(tmp_path):
    growing = GrowingFile(tmp_path / "a.txt")
    growing.path.touch()
    thread = write_later(growing, [b"partial"], end="abort")
    with growing.open() as stream, pytest.raises(UploadAborted):
        stream.read()
    thread.join()


def test_read_items_parses_a_csv_as_it_arrives(tmp_path):
    body = b"content,team\n" + b"".join(b"row %d,t%d\n" % (i, i % 3) for i in range(20000))
    growing = GrowingFile(tmp_path / "items.csv")  # the extension still gives the format
    growing.path.touch()
    thread = write_later(growing, [body[i:i + 50000] for i in range(0, len(body), 50000)])
    frames = list(read_items(growing, chunk_rows=5000))
    thread.join()
    assert pl.concat(frames).equals(pl.concat(list(read_items(body, "csv", chunk_rows=5000))))


def test_a_bad_csv_names_its_line_while_arriving(tmp_path):
    growing = GrowingFile(tmp_path / "bad.csv")
    growing.path.touch()
    thread = write_later(growing, [b"content,team\na,1\n", b"b,2,3\n", b"c,4\n"])
    with pytest.raises(Exception, match="line 3"):
        list(read_items(growing))
    thread.join()
