"""The dashboard's routes without a browser: the page, its files, caching and headers."""

import re

from starlette.applications import Starlette
from starlette.testclient import TestClient

from serve_app.dashboard import STATIC, dashboard_routes

IMPORT = re.compile(r"from '\./([\w.-]+)'")


def client() -> TestClient:
    return TestClient(Starlette(routes=dashboard_routes()))


def test_the_page_and_its_files_are_served_with_a_strict_policy():
    http = client()
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in page.text
    for name, media in [("app.js", "text/javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")]:
        answer = http.get(f"/static/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media), name
        assert answer.content == (STATIC / name).read_bytes()


def test_every_module_the_page_imports_is_shipped():
    http = client()
    imported = {module for path in STATIC.glob("*.js") for module in IMPORT.findall(path.read_text())}
    assert imported >= {"api.js", "ui.js", "list.js", "batch.js", "upload.js"}
    for module in imported:
        assert http.get(f"/static/{module}").status_code == 200, module


def test_an_unchanged_file_is_a_304_and_an_unknown_one_a_json_404():
    http = client()
    etag = http.get("/static/app.js").headers["etag"]
    assert http.get("/static/app.js", headers={"if-none-match": etag}).status_code == 304
    missing = http.get("/static/../engine/config.py")
    assert missing.status_code == 404
    unknown = http.get("/static/nope.js")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
