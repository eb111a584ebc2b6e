"""Serving govuk-frontend's compiled assets from the npm package (``npm ci`` installs it).

The CSS expects its fonts and images under ``/assets/``; the JavaScript is an ES module that
``/assets/site/init.mjs`` (ours) imports and starts, so no inline script is needed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from shared.logging import get_logger

log = get_logger(__name__)

ROOT = Path(__file__).resolve().parents[2]
GOVUK_DIST = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
OWN_STATIC = Path(__file__).parent / "static"
_YEAR = "public, max-age=31536000, immutable"


def mount_assets(app: FastAPI, dist: Path = GOVUK_DIST) -> None:
    """Add the /assets routes; a missing npm install is logged loudly, not hidden."""
    if not (dist / "govuk-frontend.min.css").is_file():
        log.error("govuk-frontend is not installed: run scripts/assets.sh", looked_in=str(dist))

    def file_route(path: str, file: Path, media_type: str) -> None:
        async def serve() -> FileResponse:
            return FileResponse(file, media_type=media_type, headers={"cache-control": _YEAR})

        app.add_api_route(path, serve, methods=["GET"], include_in_schema=False)

    file_route("/assets/govuk-frontend.min.css", dist / "govuk-frontend.min.css", "text/css")
    file_route("/assets/govuk-frontend.min.js", dist / "govuk-frontend.min.js", "text/javascript")
    app.mount("/assets/site", StaticFiles(directory=OWN_STATIC, check_dir=False), "site-assets")
    app.mount("/assets", StaticFiles(directory=dist / "assets", check_dir=False), "govuk-assets")
