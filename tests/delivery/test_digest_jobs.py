"""``prepare_jobs`` for claimed digest deliveries only reads: a read-only session (outside the
claim's write transaction, which on SQLite holds the one write lock) prepares the same jobs."""

from __future__ import annotations

from dataclasses import replace

from tests.delivery.test_digests import KOLKATA_0730, add_channel, grouped_reader, scheduler
from tests.smtpserver import Mailbox, smtp_url
from tidings.clock import FrozenClock
from tidings.delivery.channels.email import shared_smtp
from tidings.delivery.outbox import claim_due_deliveries, prepare_jobs


def test_claimed_digest_jobs_prepared_in_a_read_only_session_are_the_same(
    settings, db, smtp_server: Mailbox
):
    settings = replace(settings, smtp_url=smtp_url(smtp_server), base_url="https://news.example")
    reader, _ = grouped_reader(db)
    add_channel(db, reader, "email", {"address": "reader@example.com"})
    scheduler(settings, db, FrozenClock(KOLKATA_0730)).run_due()
    with db.session() as s:
        ids = claim_due_deliveries(s, "w", KOLKATA_0730, lease_seconds=60, limit=10)
        inside = prepare_jobs(s, ids, settings)
    with db.reading() as s:
        outside = prepare_jobs(s, ids, settings)
    assert len(ids) == 1 and [j.message for j in outside] == [j.message for j in inside]
    [job] = outside
    assert job.error is None and job.sender is not None and job.message is not None
    assert [section.heading for section in job.message.sections][-1] == "Other stories"
    job.sender.send(job.message)
    shared_smtp(settings).close()
    assert [m["Subject"] for m in smtp_server.messages] == ["Your daily digest: 4 stories"]
