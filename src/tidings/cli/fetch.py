"""``tidings fetch --once``: one pass over every due source through the whole pipeline."""

from __future__ import annotations

import click

from tidings.cli._common import open_database
from tidings.worker import Worker


@click.command("fetch")
@click.option("--once", is_flag=True, required=True, help="Check every due source once, then exit.")
def command(once: bool) -> None:
    """Check every due source once through the pipeline, then exit."""
    settings, db = open_database()
    with Worker(settings, db) as worker:
        reports = worker.run_once()
    new = sum(r.new_articles for r in reports)
    failed = [r for r in reports if not r.ok]
    click.echo(f"checked {len(reports)} source(s): {new} new article(s), {len(failed)} failed")
    for report in failed:
        click.echo(f"  source {report.source_id}: {report.error}", err=True)
