"""serve_app.multipart: a multipart/form-data body, fed in chunks (pure: no Ray, no HTTP)."""

import io

import httpx
import pytest

from engine.errors import BadRequest, InvalidRequest, PayloadTooLarge
from serve_app.multipart import FormReader, boundary_of

FILE = b"content,team\r\n" + b"".join(b"row %d --not-the-boundary\r\n" % i for i in range(2000))


def encode(data=None, files=None) -> tuple[bytes, bytes]:
    """(boundary, body) exactly as an HTTP client sends them."""
    request = httpx.Request("POST", "http://test/", data=data, files=files)
    return boundary_of(request.headers["content-type"]), request.read()


def read(boundary: bytes, body: bytes, chunk: int, **limits) -> tuple[FormReader, dict[str, bytes]]:
    """Feed `body` in pieces of `chunk` bytes.

    Returns the reader and {(filename, content type): bytes} of the file part.
    """
    files = {}

    def open_file(name, content_type):
        files[name, content_type] = io.BytesIO()
        return files[name, content_type].write

    reader = FormReader(boundary, open_file, **limits)
    for start in range(0, len(body), chunk):
        reader.feed(body[start:start + chunk])
    reader.finish()
    return reader, {name: out.getvalue() for name, out in files.items()}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000, 65536, 10**9])
def test_any_chunking_gives_the_same_fields_and_file(chunk):
    boundary, body = encode({"operation": "label", "categories": "a,b"}, {"file": ("items.csv", FILE, "text/csv")})
    reader, files = read(boundary, body, chunk)
    assert reader.fields == [("operation", "label"), ("categories", "a,b")]
    assert reader.filename == "items.csv"
    assert files == {("items.csv", "text/csv"): FILE}


def test_fields_after_the_file_and_empty_values():
    boundary = b"XyZ"
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"operation\"\r\n\r\nclassify\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"categories\"\r\n\r\n\r\n"
            b"--XyZ--\r\nepilogue is ignored")
    for chunk in (1, 5, len(body)):
        reader, files = read(boundary, body, chunk)
        assert reader.fields == [("operation", "classify"), ("categories", "")]
        assert files == {("a.txt", "text/plain"): b"line one\r\nline two"}


def test_an_empty_file_and_a_file_under_another_name():
    boundary, body = encode({"operation": "label"}, {"other": ("x.csv", b"ignored")})
    reader, files = read(boundary, body, 10)
    assert reader.filename is None and files == {} and reader.fields == [("operation", "label")]
    boundary, body = encode(files={"file": ("empty.csv", b"")})
    reader, files = read(boundary, body, 10)
    assert reader.filename == "empty.csv" and files == {("empty.csv", "text/csv"): b""}


def test_a_second_file_part_is_refused():
    part = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx\r\n"
    with pytest.raises(InvalidRequest, match="more than one 'file' part"):
        read(b"B", part + part + b"--B--\r\n", 4)


def test_oversize_field_and_too_many_fields():
    boundary, body = encode({"operation": "label", "user_prompt_template": "x" * 101}, {"file": ("a.csv", b"x")})
    with pytest.raises(PayloadTooLarge, match="user_prompt_template") as raised:
        read(boundary, body, 16, max_field_bytes=100)
    assert raised.value.status_code == 413
    boundary, body = encode({f"f{i}": "v" for i in range(4)}, {"file": ("a.csv", b"x")})
    with pytest.raises(BadRequest, match="more than 3 fields"):
        read(boundary, body, 16, max_fields=3)


def test_a_field_that_is_not_utf8():
    body = b"--B\r\nContent-Disposition: form-data; name=\"operation\"\r\n\r\ncaf\xe9\r\n--B--\r\n"
    with pytest.raises(InvalidRequest, match="'operation' is not UTF-8") as raised:
        read(b"B", body, 8)
    assert raised.value.status_code == 422 and raised.value.field == "operation"


@pytest.mark.parametrize("body,reason", [
    (b"", "ended before its closing boundary"),
    (b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno closing boundary", "ended before"),
    (b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--B", "ended before"),
    (b"--Bxx", "neither CRLF nor '--'"),
    (b"--B\r\nContent-Disposition: attachment\r\n\r\nv\r\n--B--", "no Content-Disposition form-data name"),
    (b"--B\r\n\r\nv\r\n--B--", "no Content-Disposition"),
    (b"--B\r\nno colon here\r\n\r\nv\r\n--B--", "has no ':'"),
    (b"--B\r\nX-Long: " + b"h" * 20000, "headers are too long"),
    (b"x" * 70000, "does not start with its boundary"),
])
def test_malformed_framing_is_a_clear_400(body, reason):
    with pytest.raises(BadRequest, match=reason) as raised:
        read(b"B", body, 3)
    assert raised.value.status_code == 400


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x",
                                          "multipart/form-data; boundary=" + "x" * 201, ""])
def test_a_content_type_without_a_usable_boundary(content_type):
    with pytest.raises(InvalidRequest, match="multipart/form-data") as raised:
        boundary_of(content_type)
    assert raised.value.status_code == 422 and raised.value.field == "file"
