"""UploadForm: a multipart body fed in pieces becomes one Upload, whatever the order of its parts."""

import pytest

from engine.errors import InvalidRequest, PayloadTooLarge
from engine.models import LabelParams
from serve_app.upload_form import UploadForm, parse_form_fields

CONTENT_TYPE = "multipart/form-data; boundary=B"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart body with the parts in this order: (name, filename or None, value)."""
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + b"--B--\r\n"


def finish(tmp_path, raw: bytes, max_bytes: int = 1000, with_digest: bool = False, chunk: int = 7):
    form = UploadForm(CONTENT_TYPE, tmp_path, max_bytes, with_digest)
    try:
        for start in range(0, len(raw), chunk):
            form.feed(raw[start:start + chunk])
        upload = form.finish()
        return upload, upload.path.read_bytes()
    finally:
        form.remove()
        assert not list(tmp_path.iterdir())  # the temporary file is gone


def test_fields_before_and_after_the_file_all_count(tmp_path):
    upload, data = finish(tmp_path, body(("operation", None, b"classify"), ("categories", None, b"a, b"),
                                         ("file", "in.csv", b"text\nhello\n"), ("content_column", None, b"text"),
                                         ("format", None, b"csv"), ("dry_run", None, b"yes")))
    assert data == b"text\nhello\n" and upload.path.suffix == ".csv"
    assert (upload.operation, upload.format, upload.columns) == ("label", "csv", {"content_column": "text"})
    assert isinstance(upload.params, LabelParams) and upload.params.categories == ["a", "b"]
    assert upload.controls.dry_run is True


def test_the_key_body_holds_the_file_hash_only_with_a_digest(tmp_path):
    def key_body(content: bytes, with_digest: bool) -> bytes:
        raw = body(("operation", None, b"summarize"), ("file", "a.txt", content))
        return finish(tmp_path, raw, with_digest=with_digest)[0].key_body

    assert key_body(b"one", True) != key_body(b"two", True)
    assert key_body(b"one", False) == key_body(b"two", False)


@pytest.mark.parametrize("raw,error,field", [
    (body(("operation", None, b"label"), ("categories", None, b"a")), InvalidRequest, "file"),
    (body(("file", "a.csv", b"x"), ("operation", None, b"translate")), InvalidRequest, "operation"),
    (body(("operation", None, b"label"), ("categories", None, b"a"), ("multi_label", None, b"maybe"),
          ("file", "a.csv", b"x")), InvalidRequest, "multi_label"),
    (body(("operation", None, b"summarize"), ("file", "a.csv", b"x" * 1001)), PayloadTooLarge, "file"),
])
def test_bad_forms_name_the_field(tmp_path, raw, error, field):
    with pytest.raises(error) as raised:
        finish(tmp_path, raw)
    assert raised.value.field == field


def test_a_form_that_is_not_multipart_is_refused_at_once(tmp_path):
    with pytest.raises(InvalidRequest) as raised:
        UploadForm("application/json", tmp_path, 1000, False)
    assert raised.value.field == "file"


def test_empty_fields_mean_not_given():
    operation, params, loader, controls = parse_form_fields([("operation", "summarize"), ("model", " "),
                                                             ("metadata_columns", "a,b"), ("max_cost", "")])
    assert (operation, params.model, loader, controls.max_cost) == ("summarize", None, {"metadata_columns": ["a", "b"]},
                                                                    None)
