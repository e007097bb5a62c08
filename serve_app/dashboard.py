"""The batch dashboard: a static single-page app at `/`, shipped in serve_app/static.

Plain HTML, CSS and JavaScript modules, no build step and nothing fetched from
elsewhere, so it works offline. The files are read once at start-up and served
from memory with an ETag; the page talks to the same origin's /api only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serve_app.errors import json_error

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page loads comes from this origin; no inline script or style.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets(directory: Path = STATIC) -> dict[str, Asset]:
    assets = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            assets[path.name] = Asset(body, MEDIA_TYPES[path.suffix], etag)
    return assets


def asset_response(request: Request, asset: Asset) -> Response:
    # no-cache: the browser revalidates (a 304 costs nothing) so an upgrade is seen at once.
    headers = {"etag": asset.etag, "cache-control": "no-cache", "x-content-type-options": "nosniff",
               "content-security-policy": CSP, "referrer-policy": "no-referrer"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def dashboard_routes(directory: Path = STATIC) -> list[Route]:
    """`/` (the page) and `/static/{name}` (its files). Register after the API routes."""
    assets = load_assets(directory)

    async def index(request: Request) -> Response:
        return asset_response(request, assets["index.html"])

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["name"])
        if asset is None:
            return json_error(404, {"type": "not_found", "message": f"no dashboard file {request.path_params['name']!r}"})
        return asset_response(request, asset)

    return [
        Route("/", index, methods=["GET", "HEAD"], name="dashboard"),
        Route("/static/{name}", static, methods=["GET", "HEAD"], name="dashboard_static"),
    ]
