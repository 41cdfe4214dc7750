"""Files the browser wants at the site root: the service worker and the web app manifest.

``/sw.js`` must be served from the root for its scope to be the whole site (``/``); the header
``Service-Worker-Allowed: /`` says so explicitly, and ``no-cache`` makes the browser check for a
new version on every registration.  The manifest makes Tidings installable ("Install Tidings").
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from tidings.web.pages import STATIC_DIR

router = APIRouter(include_in_schema=False)

THEME = "#1d4ed8"  # as <meta name="theme-color"> in base.html


def _icon(name: str, size: int, purpose: str) -> dict[str, str]:
    return {
        "src": f"/static/icons/{name}",
        "sizes": f"{size}x{size}",
        "type": "image/png",
        "purpose": purpose,
    }


MANIFEST = {
    "id": "/",
    "name": "Tidings",
    "short_name": "Tidings",
    "description": "News alerts: the stories you follow, the moment they break.",
    "lang": "en",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "background_color": "#ffffff",
    "theme_color": THEME,
    "icons": [
        _icon("icon-192.png", 192, "any"),
        _icon("icon-512.png", 512, "any"),
        _icon("maskable-512.png", 512, "maskable"),
    ],
}


@router.get("/sw.js")
def service_worker() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "sw.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@router.get("/manifest.webmanifest")
def manifest() -> JSONResponse:
    return JSONResponse(
        MANIFEST,
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )
