"""The WebSub callback endpoint: hubs verify our subscriptions here and push signed feeds.

GET  /websub/{source_id}?hub.mode=subscribe&hub.topic=…&hub.challenge=…&hub.lease_seconds=…
     → 200 with the challenge, only for a (un)subscription we asked for; else 404.
POST /websub/{source_id}   (the feed as body, X-Hub-Signature: sha256=<hmac>)
     → 204 after ``on_push(source_id, body, headers)``; 403 unsigned or badly signed, and
       nothing is processed; 404 unknown source; 413 body over the size cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from tidings.clock import Clock, utcnow
from tidings.sources.websub import intent_confirmed, lease_until, signature_valid
from tidings.store.db import Database
from tidings.store.models import Source

log = logging.getLogger("tidings.websub")

OnPush = Callable[[int, bytes, Mapping[str, str]], object]
MAX_PUSH_BYTES = 10 * 1024 * 1024


def websub_router(
    db: Database, on_push: OnPush, *, clock: Clock = utcnow, max_body_bytes: int = MAX_PUSH_BYTES
) -> APIRouter:
    """The callback routes, to include in the web app."""
    router = APIRouter()

    @router.get("/websub/{source_id}")
    def verify(source_id: int, request: Request) -> Response:
        params = request.query_params
        mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
        if mode == "denied":
            _forget_subscription(db, source_id)
            return Response(status_code=200)
        if not _confirm(db, source_id, mode, topic, params.get("hub.lease_seconds"), clock):
            log.warning("websub verification refused", extra={"source_id": source_id, "mode": mode})
            return Response(status_code=404)
        return Response(params.get("hub.challenge", ""), media_type="text/plain")

    @router.post("/websub/{source_id}")
    async def deliver(source_id: int, request: Request) -> Response:
        body = await _read_capped(request, max_body_bytes)
        if body is None:
            return Response(status_code=413)
        secret = await run_in_threadpool(_secret_of, db, source_id)
        if secret is None:
            return Response(status_code=404)
        if not signature_valid(secret, body, request.headers.get("x-hub-signature")):
            log.warning("websub push with a bad signature", extra={"source_id": source_id})
            return Response(status_code=403)
        await run_in_threadpool(on_push, source_id, body, dict(request.headers))
        return Response(status_code=204)

    return router


def websub_app(
    db: Database, on_push: OnPush, *, clock: Clock = utcnow, max_body_bytes: int = MAX_PUSH_BYTES
) -> FastAPI:
    """A stand-alone app with only the WebSub callback (the full web app includes the router)."""
    app = FastAPI(title="Tidings WebSub callback")
    app.include_router(websub_router(db, on_push, clock=clock, max_body_bytes=max_body_bytes))
    return app


def _confirm(
    db: Database, source_id: int, mode: str, topic: str, lease: str | None, clock: Clock
) -> bool:
    with db.session() as session:
        source = session.get(Source, source_id)
        if not intent_confirmed(source, mode, topic):
            return False
        assert source is not None
        source.websub_lease_until = lease_until(lease, clock()) if mode == "subscribe" else None
        return True


def _forget_subscription(db: Database, source_id: int) -> None:
    """The hub denied the subscription: polling carries on alone."""
    with db.session() as session:
        source = session.get(Source, source_id)
        if source is not None:
            source.websub_secret, source.websub_lease_until = None, None


def _secret_of(db: Database, source_id: int) -> str | None:
    """The secret we gave the hub; a source without one accepts no pushes."""
    with db.session() as session:
        source = session.get(Source, source_id)
        return source.websub_secret if source is not None else None


async def _read_capped(request: Request, limit: int) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
