"""What every request handler needs: settings, the database, the clock, the preview index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from tidings.clock import Clock
from tidings.config import Settings
from tidings.store.db import Database
from tidings.web.preview import LivePreview
from tidings.web.security import Limits, UseNotes


@dataclass
class Web:
    """The web app's state, one per app (``app.state.web``)."""

    settings: Settings
    db: Database
    clock: Clock
    preview: LivePreview
    session_secret: bytes  # signs CSRF tokens; made on first run in the data dir (0600)
    limits: Limits = field(default_factory=Limits)
    uses: UseNotes = field(default_factory=UseNotes)  # sign-ins' last uses, written in batches

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` when the public URL is https."""
        return urlsplit(self.settings.base_url).scheme == "https"

    @property
    def origin(self) -> str:
        """The public origin (``https://news.example.com``) requests may come from."""
        parts = urlsplit(self.settings.base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()


async def current_web(request: Request) -> Web:
    """The app's ``Web``.  ``async`` although it awaits nothing: FastAPI runs a sync dependency
    in the thread pool, a hand-off per request for a lookup that does no I/O."""
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(current_web)]
