"""Live updates of the inbox as Server-Sent Events.

GET /api/v1/events    text/event-stream; session cookie or bearer token (anonymous: 401 JSON)

    event: unread
    data: {"unread_count": 3}
        first, then whenever the count changes by read, read-all, a click or clear

    event: notification
    id: 412
    data: {"id": 412, "title": "…", …, "unread_count": 4}
        each new notification of the reader, as GET /api/v1/notifications shows it, plus the
        unread count

    : ping
        every 15 s when nothing else was sent

``id`` is the highest notification id the stream has sent: a reconnecting ``EventSource`` sends
it back as ``Last-Event-ID`` and first gets what it missed (the newest 100 at most).  ``?after=ID``
does the same for a first connection (a page passes the newest id it shows).  How changes reach
every web process (PostgreSQL LISTEN/NOTIFY, SQLite polling) is in ``tidings.web.events``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from tidings.web.auth import ReaderDep
from tidings.web.events import inbox_events, inbox_hub, resume_point, stop_inbox_hub
from tidings.web.schemas import MAX_ID


@asynccontextmanager
async def _hub_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's inbox hub (started by the first stream) stops when the app shuts down."""
    try:
        yield
    finally:
        await run_in_threadpool(stop_inbox_hub, app)


router = APIRouter(prefix="/api/v1", tags=["events"], lifespan=_hub_lifespan)

EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-Sent Events: `unread` `{unread_count}` first and after read/clear; "
            "`notification` (a notification as the inbox lists it, plus `unread_count`, "
            "`id` = the highest notification id sent) for each new one; `: ping` every 15 s."
        )
    }
}


@router.get("/events", response_class=EventSourceResponse, responses=EVENTS_DOC)
async def events(
    me: ReaderDep,
    request: Request,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Also send your notifications newer than this id"),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="Sent by a reconnecting EventSource: resume after it")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Your inbox, live: new notifications and unread counts as Server-Sent Events."""
    stream = inbox_events(inbox_hub(request.app), me.user_id, resume_point(last_event_id, after))
    async for event in stream:
        yield event
