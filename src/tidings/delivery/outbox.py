"""Sending the outbox: claim due deliveries, send each on its channel, record every attempt.

Exactly-once inbox, at-least-once channels.  A ``Delivery`` row was written with its
notification (``notify.py``); a ``DeliveryWorker`` claims due rows with a lease (the same claim
as sources, ``tidings.store.claims``), sends them concurrently from a thread pool — one slow or
dead endpoint holds one thread for at most its per-request timeout, never the others — and
records each result as it comes in: a ``DeliveryAttempt`` row for every attempt, then

* success → ``sent`` (``sent_at``);
* temporary ``DeliveryError`` (429, 5xx, network) → pending again after exponential backoff,
  never sooner than the target's ``Retry-After``; ``failed`` after ``max_attempts``;
* permanent → ``failed``; a web push subscription refused for good (404/410, keys or endpoint
  unusable) is a dead device: its ``Channel`` row is deleted (its other deliveries with it).
  Other channels keep their row and show ``last_error``.

A worker killed mid-send leaves its claim to run out; another worker sends the delivery again.
The push ``tag`` is the notification id, so the device shows such a repeat once.

Held notifications (quiet hours) are released here, by ``release_held``: each is routed again
at release, so the reader's hourly budget is checked at the moment it would be sent (as
``timing.py`` prescribes); past the budget it goes to the digest (queued for it, see
``notify.queue_for_digest``) and its deliveries are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tidings.clock import Clock, as_utc, naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.channels import Channel as ChannelSender
from tidings.delivery.channels import DeliveryError, make_channel
from tidings.delivery.digests import digest_messages
from tidings.delivery.http import DELIVERY_TIMEOUT
from tidings.delivery.message import Message
from tidings.delivery.notify import (
    queue_for_digest,
    route_one,
    sent_in_last_hour,
    user_time_settings,
)
from tidings.store.claims import claim_due, release_row_claim
from tidings.store.db import Database
from tidings.store.ids import in_ids
from tidings.store.models import (
    Alert,
    Channel,
    Delivery,
    DeliveryAttempt,
    Notification,
    Topic,
    User,
)

log = logging.getLogger("tidings.outbox")
DELIVERIES = cast(Table, Delivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST = 30.0  # seconds before the second attempt; doubles each time
BACKOFF_CAP = 6 * 3600.0
PUSH_SUBSCRIPTION_MAX_AGE = timedelta(days=60)
HOUSEKEEPING_EVERY = timedelta(hours=1)
RECORD_BATCH = 64  # results recorded (and jobs claimed) in one transaction, when they come fast
RECORD_WAIT = 0.1  # seconds a finished result may wait for others to be recorded with it


@dataclass(frozen=True)
class Job:
    """One claimed delivery, ready to send (or already known to fail: ``error``)."""

    delivery_id: int
    channel_id: int
    kind: str
    attempts: int  # attempts made before this one
    sender: ChannelSender | None = None
    message: Message | None = None
    error: DeliveryError | None = None


@dataclass(frozen=True)
class Outcome:
    job: Job
    started: datetime
    finished: datetime
    error: DeliveryError | None


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Wait after the ``attempts``-th failure: 30 s, 60 s, 120 s … up to 6 h, and never less
    than the target's ``Retry-After``."""
    wait_for = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return max(wait_for, retry_after or 0.0)


class _Results:
    """Outcomes handed over by the pool's threads; the sending loop waits for a batch of them."""

    def __init__(self) -> None:
        self._ready: list[Outcome] = []
        self._enough = 1
        self._arrived = threading.Condition(threading.Lock())

    def put(self, outcome: Outcome) -> None:
        with self._arrived:
            self._ready.append(outcome)
            if len(self._ready) in (1, self._enough):  # the first, or the batch is complete
                self._arrived.notify()

    def take(self) -> list[Outcome]:
        with self._arrived:
            ready, self._ready = self._ready, []
        return ready

    def wait(self, enough: int, linger: float) -> None:
        """Until ``enough`` outcomes are ready, or ``linger`` seconds after the first one."""
        with self._arrived:
            self._enough = enough
            if not self._ready:
                self._arrived.wait_for(lambda: bool(self._ready))
            if len(self._ready) < enough:
                self._arrived.wait_for(lambda: len(self._ready) >= enough, linger)


class DeliveryWorker:
    """Sends due deliveries; a ``Worker`` task (``__call__`` returns how many were attempted)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock = utcnow,
        worker_id: str,
        concurrency: int = 16,
        lease_seconds: float | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds or settings.claim_lease
        self.max_attempts = max_attempts
        # Claimed jobs handed to the pool at most at once (more are claimed when half are done):
        # enough for batches of RECORD_BATCH, few enough that the last of them starts within
        # half its lease even if every send before it takes the whole DELIVERY_TIMEOUT.
        within_lease = int(self.lease_seconds / 2 / DELIVERY_TIMEOUT * concurrency)
        self.queue_size = max(concurrency, min(max(4 * concurrency, 2 * RECORD_BATCH), within_lease))
        self.refill_at = self.queue_size // 2
        self._jobs: SimpleQueue[tuple[Job, _Results] | None] = SimpleQueue()
        self._senders: list[threading.Thread] = []

    def __call__(self) -> int:
        return self.run_due()

    def run_due(self, limit: int = 10_000) -> int:
        """Release due holds, then send up to ``limit`` due deliveries; return how many were
        attempted.

        Up to ``queue_size`` claimed jobs are queued for the pool at once.  Results are
        recorded in batches: one transaction records the finished ones and claims the next
        batch when half the queue is done, or when ``RECORD_BATCH`` results wait, or
        ``RECORD_WAIT`` after the first of them arrived — so a slow endpoint keeps one thread,
        and the results finishing around it wait for nobody.
        """
        with self.db.session() as session:
            release_held(session, self.clock())
        results = _Results()
        claimed, attempted, in_flight, more = 0, 0, 0, True
        while True:
            finished = results.take()
            in_flight -= len(finished)
            want = 0
            if more and in_flight <= self.refill_at:
                want = min(self.queue_size - in_flight, limit - claimed)
            if finished or want > 0:
                jobs = self.settle(finished, want)
                attempted += len(finished)
                more = more and len(jobs) == want
                claimed += len(jobs)
                in_flight += len(jobs)
                self._start_senders()
                for job in jobs:
                    self._jobs.put((job, results))
            if not in_flight:
                return attempted
            refill = in_flight - self.refill_at if more else in_flight
            results.wait(min(RECORD_BATCH, in_flight, max(1, refill)), RECORD_WAIT)

    def _start_senders(self) -> None:
        """The pool: ``concurrency`` threads taking jobs from one queue (cheaper per job than an
        executor's future, and they live as long as the worker)."""
        while len(self._senders) < self.concurrency:
            thread = threading.Thread(
                target=self._send_queued, name=f"delivery-{len(self._senders)}", daemon=True
            )
            thread.start()
            self._senders.append(thread)

    def _send_queued(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, results = item
            results.put(self.send(job))

    def settle(self, outcomes: list[Outcome], want: int) -> list[Job]:
        """In one transaction: record ``outcomes`` and claim up to ``want`` more deliveries;
        then read the claimed ones and prepare their jobs.

        The reading comes after the claim commits, in a read-only session: the lease keeps the
        rows ours meanwhile, and the write transaction (on SQLite, the database's one write
        lock, which the other workers wait for) is not held while a batch's messages — a
        digest's stories — are read and built."""
        ids: list[int] = []
        with self.db.session() as session:
            if outcomes:
                self.record_in(session, outcomes)
            if want > 0:
                ids = claim_due_deliveries(
                    session,
                    self.worker_id,
                    self.clock(),
                    lease_seconds=self.lease_seconds,
                    limit=want,
                )
        self._log(outcomes)
        if not ids:
            return []
        with self.db.reading() as session:
            return prepare_jobs(session, ids, self.settings)

    def claim(self, limit: int) -> list[Job]:
        """Claim due deliveries (never those of a held notification) and prepare them."""
        return self.settle([], limit)

    def send(self, job: Job) -> Outcome:
        """Send one job (in a sender thread); any unexpected error counts as temporary."""
        started = self.clock()
        error = job.error
        if error is None and job.sender is not None and job.message is not None:
            try:
                job.sender.send(job.message)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a bug or a library surprise must not kill the worker
                log.exception("delivery crashed", extra={"delivery_id": job.delivery_id})
                error = DeliveryError.temporary(f"unexpected {exc!r}")
        return Outcome(job, started, self.clock(), error)

    def record(self, outcomes: list[Outcome]) -> None:
        """Record attempts and their consequences in one transaction."""
        self.settle(outcomes, 0)

    def record_in(self, session: Session, outcomes: list[Outcome]) -> None:
        kept = self._conclude(session, outcomes)
        rows = [_attempt_row(o, self.worker_id) for o in outcomes if o.job.delivery_id in kept]
        if rows:  # a Core insert: no ORM bookkeeping for rows nobody loads
            session.connection().execute(insert(ATTEMPTS), rows)

    def _log(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            log.log(
                logging.INFO if outcome.error is None else logging.WARNING,
                "delivery attempted",
                extra={
                    "delivery_id": outcome.job.delivery_id,
                    "channel": outcome.job.kind,
                    "error": str(outcome.error or ""),
                },
            )

    def _conclude(self, session: Session, outcomes: list[Outcome]) -> set[int]:
        """Apply each outcome to its delivery (only while the claim is ours); return the ids of
        deliveries that still exist, whose attempts can be recorded."""
        kept = self._sent(session, [o.job.delivery_id for o in outcomes if o.error is None])
        for outcome in outcomes:
            if outcome.error is not None:
                self._failed(session, outcome, outcome.error)
        lost = [o.job.delivery_id for o in outcomes if o.job.delivery_id not in kept]
        if lost:  # failures, and claims taken over by another worker: those still there
            kept |= set(session.scalars(select(Delivery.id).where(Delivery.id.in_(lost))))
        return kept

    def _sent(self, session: Session, delivery_ids: list[int]) -> set[int]:
        """Mark deliveries sent (those still claimed by us); return their ids."""
        if not delivery_ids:
            return set()
        d = DELIVERIES.c
        return set(
            session.connection()
            .execute(
                update(DELIVERIES)
                .where(in_ids(session, d.id, delivery_ids), d.claimed_by == self.worker_id)
                .values(
                    status="sent",
                    sent_at=naive_utc(self.clock()),
                    attempts=d.attempts + 1,
                    last_error=None,
                    claimed_by=None,
                    claimed_until=None,
                )
                .returning(d.id)
            )
            .scalars()
        )

    def _failed(self, session: Session, outcome: Outcome, error: DeliveryError) -> None:
        job = outcome.job
        attempts = job.attempts + 1
        give_up = error.permanent or attempts >= self.max_attempts
        values: dict[str, Any] = {"attempts": attempts, "last_error": str(error)[:2000]}
        if give_up:
            values["status"] = "failed"
        else:
            delay = backoff_seconds(attempts, error.retry_after)
            values["next_attempt_at"] = naive_utc(outcome.finished + timedelta(seconds=delay))
        if not release_row_claim(session, Delivery, job.delivery_id, self.worker_id, **values):
            return  # our lease ran out and another worker took the delivery over
        if error.permanent:
            channel_refused(session, job.channel_id, job.kind, str(error))

    def close(self) -> None:
        """Stop the sender threads once their current sends end; jobs still queued are dropped
        (their claims run out and another pass sends them)."""
        with suppress(Empty):
            while True:
                self._jobs.get_nowait()
        for _ in self._senders:
            self._jobs.put(None)
        for thread in self._senders:
            thread.join()
        self._senders = []

    def __enter__(self) -> DeliveryWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim_due_deliveries(
    session: Session, worker: str, now: datetime, *, lease_seconds: float, limit: int
) -> list[int]:
    """Claim pending deliveries that are due, most overdue first; not those of held
    notifications (``release_held`` lets them go)."""
    naive_now = naive_utc(now)
    candidates = select(Delivery.id).outerjoin(
        Notification, Delivery.notification_id == Notification.id
    )
    return claim_due(
        session,
        Delivery,
        worker,
        now,
        due=[
            Delivery.status == "pending",
            Delivery.next_attempt_at <= naive_now,
            or_(Notification.route.is_(None), Notification.route != "held"),
        ],
        order_by=[Delivery.next_attempt_at, Delivery.id],
        lease_seconds=lease_seconds,
        limit=limit,
        candidates=candidates,
    )


def channel_refused(session: Session, channel_id: int, kind: str, error: str) -> None:
    """A permanent refusal: a push subscription is removed (a dead device); other channels
    keep their row and show the error."""
    if kind == "webpush":
        session.execute(delete(Channel).where(Channel.id == channel_id))
        log.info("push subscription removed", extra={"channel_id": channel_id, "error": error})
        return
    session.execute(update(Channel).where(Channel.id == channel_id).values(last_error=error))


def _attempt_row(outcome: Outcome, worker: str) -> dict[str, Any]:
    error = outcome.error
    status = "ok" if error is None else ("permanent" if error.permanent else "temporary")
    return {
        "delivery_id": outcome.job.delivery_id,
        "worker": worker,
        "started_at": naive_utc(outcome.started),
        "finished_at": naive_utc(outcome.finished),
        "status": status,
        "error": str(error)[:2000] if error else None,
    }


# -- preparing what to send ---------------------------------------------------------------------


def prepare_jobs(session: Session, delivery_ids: list[int], settings: Settings) -> list[Job]:
    """The claimed deliveries with their channel built and their message made.

    Read as plain rows; the digests among them get their messages from one
    ``digest_messages`` call per channel kind (a few queries for the whole batch), the story
    notifications from one load."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.attempts,
            Delivery.notification_id,
            Delivery.digest_id,
            Channel.id.label("channel_id"),
            Channel.kind,
            Channel.config,
        )
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(in_ids(session, Delivery.id, delivery_ids))
        .order_by(Delivery.id)
    ).all()
    story_ids = [r.notification_id for r in rows if r.notification_id is not None]
    notifications = {
        n.id: n
        for n in (
            session.scalars(select(Notification).where(in_ids(session, Notification.id, story_ids)))
            if story_ids
            else ()
        )
    }
    names = alert_names(session, {a for n in notifications.values() for a in n.alert_ids})
    digests = _digest_messages(session, rows, settings)
    return [
        _job(row, notifications.get(row.notification_id), names, digests, settings) for row in rows
    ]


def _digest_messages(
    session: Session, rows: Sequence[Any], settings: Settings
) -> dict[tuple[int, str], Message]:
    """``{(digest, channel kind): message}`` for the digest deliveries among ``rows``."""
    wanted: dict[str, list[int]] = {}
    for row in rows:
        if row.digest_id is not None:
            wanted.setdefault(row.kind, []).append(row.digest_id)
    if not wanted:
        return {}
    return {
        (digest_id, kind): message
        for kind, ids in wanted.items()
        for digest_id, message in digest_messages(session, ids, kind, settings).items()
    }


def _job(
    row: Any,
    notification: Notification | None,
    names: dict[int, str],
    digests: dict[tuple[int, str], Message],
    settings: Settings,
) -> Job:
    job = Job(row.id, row.channel_id, row.kind, row.attempts)
    try:
        sender = make_channel(row.kind, row.config, settings)
        message = _message(row, notification, names, digests)
    except ValueError as exc:  # a stored config this version cannot use
        return replace(job, error=DeliveryError.gone(f"channel {row.channel_id}: {exc}"))
    return replace(job, sender=sender, message=message)


def _message(
    row: Any,
    notification: Notification | None,
    names: dict[int, str],
    digests: dict[tuple[int, str], Message],
) -> Message:
    if row.digest_id is not None:
        message = digests.get((row.digest_id, row.kind))
        if message is None:
            raise ValueError(f"delivery {row.id}: digest {row.digest_id} does not exist")
        return message
    if notification is None:
        raise ValueError(f"delivery {row.id} has neither a notification nor a digest")
    return notification_message(
        notification, [names[a] for a in notification.alert_ids if a in names]
    )


def notification_message(notification: Notification, alerts: list[str]) -> Message:
    """What every channel sends for a story notification; ``tag`` is its id."""
    byline = f"by {notification.byline}" if notification.byline else ""
    return Message(
        tag=str(notification.id),
        title=notification.title,
        body=" · ".join(part for part in (notification.source, byline) if part),
        url=notification.url or "",
        source=notification.source or "",
        byline=notification.byline or "",
        published=as_utc(notification.published),
        snippet=notification.snippet or "",
        snippet_html=notification.snippet_html or "",
        alerts=alerts,
        also_reported_by=notification.also_reported_by,
        kind="quick",
    )


def alert_names(session: Session, alert_ids: Iterable[int]) -> dict[int, str]:
    """How each alert is shown: a reader's alert by its query, a topic's by the topic name."""
    ids = sorted(alert_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Alert.id, Alert.query, Topic.name)
        .outerjoin(Topic, Alert.topic_id == Topic.id)
        .where(Alert.id.in_(ids))
    )
    return {alert_id: topic or query for alert_id, query, topic in rows}


# -- holds and housekeeping ---------------------------------------------------------------------


def release_held(session: Session, now: datetime, limit: int = 1000) -> int:
    """Route again every held notification whose hold has ended; return how many were released.

    Sent now: the route becomes ``quick`` and ``hold_until`` the release time (it counts against
    that hour's budget); past the budget: ``digest``, and its deliveries are dropped; quiet
    again (the reader changed their hours): held until the new end.
    """
    due = (
        select(Notification)
        .where(Notification.route == "held", Notification.hold_until <= naive_utc(now))
        .order_by(Notification.hold_until, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    held = list(session.scalars(due))
    for notification in held:
        _release(session, notification, now)
    return len(held)


def _release(session: Session, notification: Notification, now: datetime) -> None:
    user = session.get(User, notification.user_id)
    settings = user_time_settings(user) if user is not None else None
    sent = sent_in_last_hour(session, [notification.user_id], now).get(notification.user_id, 0)
    routing = route_one(settings, now, sent)
    deliveries = Delivery.notification_id == notification.id
    if routing.route == "quick":
        notification.route, notification.hold_until = "quick", naive_utc(now)
    elif routing.route == "digest":
        notification.route = "digest"
        queue_for_digest(
            session,
            [(notification.id, notification.user_id, notification.mode, notification.created_at)],
        )
        session.execute(delete(Delivery).where(deliveries, Delivery.status == "pending"))
    else:
        assert routing.hold_until is not None
        notification.hold_until = naive_utc(routing.hold_until)
        session.execute(
            update(Delivery).where(deliveries).values(next_attempt_at=naive_utc(routing.hold_until))
        )
    session.flush()


def expire_push_subscriptions(
    session: Session, now: datetime, max_age: timedelta = PUSH_SUBSCRIPTION_MAX_AGE
) -> int:
    """Delete web push subscriptions the browser has not re-registered for ``max_age``
    (never seen: counted from when they were added); return how many."""
    seen = func.coalesce(Channel.last_seen_at, Channel.created_at)
    result = session.execute(
        delete(Channel).where(Channel.kind == "webpush", seen < naive_utc(now - max_age))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


class SubscriptionHousekeeping:
    """A ``Worker`` task: expire stale push subscriptions, at most once per ``every``."""

    def __init__(
        self, db: Database, *, clock: Clock = utcnow, every: timedelta = HOUSEKEEPING_EVERY
    ) -> None:
        self.db, self.clock, self.every = db, clock, every
        self._last: datetime | None = None

    def __call__(self) -> int:
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return 0
        self._last = now
        with self.db.session() as session:
            expired = expire_push_subscriptions(session, now)
        if expired:
            log.info("push subscriptions expired", extra={"count": expired})
        return expired
