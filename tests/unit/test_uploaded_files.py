"""engine.store.uploaded_files: adopt, read back, list, delete; another owner's file does not exist."""

import pytest

from engine.errors import NotFound
from engine.store.uploaded_files import UploadedFiles


def upload(files, owner="me", data=b"line\n"):
    path = files.incoming() / "up.tmp"
    path.write_bytes(data)
    return files.adopt(path, owner, "requests.jsonl", "batch", data.count(b"\n"))


def test_an_adopted_file_is_read_back_listed_and_deleted(tmp_path):
    files = UploadedFiles(tmp_path)
    meta = upload(files, data=b"a\n" * 600_000)
    assert meta["bytes"] == 1_200_000 and meta["lines"] == 600_000
    assert b"".join(files.chunks(meta["id"], "me")) == b"a\n" * 600_000
    second = upload(files)
    assert [m["id"] for m in files.list("me")] == [second["id"], meta["id"]]
    files.delete(meta["id"], "me")
    assert [m["id"] for m in files.list("me")] == [second["id"]]
    with pytest.raises(NotFound):
        files.meta(meta["id"], "me")


def test_another_owners_file_and_bad_ids_are_not_found(tmp_path):
    files = UploadedFiles(tmp_path)
    meta = upload(files, owner="me")
    for file_id, owner in [(meta["id"], "you"), ("../../etc/passwd", "me"), ("file-nothex", "me")]:
        with pytest.raises(NotFound):
            files.meta(file_id, owner)
    with pytest.raises(NotFound):
        files.delete(meta["id"], "you")
    assert files.list("you") == []
