"""The web process: for now the WebSub callback and a health check.

``create_app`` is the one place routes are assembled; the reader-facing pages and the REST
API join it here.
"""

from __future__ import annotations

from fastapi import FastAPI

from tidings import __version__
from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.pipeline import mark_pushed
from tidings.store.db import Database
from tidings.web.websub import websub_router


def create_app(settings: Settings, db: Database, *, clock: Clock = utcnow) -> FastAPI:
    app = FastAPI(title="Tidings", version=__version__)
    app.include_router(websub_router(db, mark_pushed(db, clock), clock=clock))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
