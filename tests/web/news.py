"""Articles arriving as the pipeline stores them: the article, its story, and the notifier
hook inside the same transaction (so the inbox fills exactly as it does in a worker)."""

from __future__ import annotations

from fastapi import FastAPI

from tidings.clock import naive_utc
from tidings.delivery.notify import Notifier
from tidings.store.models import Article, Story

ASSAD_TITLE = "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
ASSAD_TEXT = (
    "North Korea's state-run Korean Central News Agency (KCNA) on Sunday, June 3 reported that "
    "Syrian President Bashar al-Assad has planned to pay a visit to North Korean Supreme Leader "
    "Kim Jong-un. It will potentially be a visit by the first head of state to meet the North "
    "Korean leader in his own country."
)


class Newsdesk:
    """Stores articles into the app's database and notifies readers, like a worker."""

    def __init__(self, app: FastAPI) -> None:
        self.web = app.state.web
        self.notifier = Notifier(self.web.db, clock=self.web.clock)
        self.count = 0

    def arrive(
        self, title: str = ASSAD_TITLE, text: str = ASSAD_TEXT, site: str = "Oneindia"
    ) -> int:
        """One new article of a new story; returns the article id."""
        self.count += 1
        now = naive_utc(self.web.clock())
        with self.web.db.session() as session:
            story = Story(title=title, first_seen_at=now, updated_at=now)
            session.add(story)
            session.flush()
            article = Article(
                url=f"https://news{self.count}.example.com/story-{self.count}.html",
                title=title,
                text=text,
                author="Shubham",
                sitename=site,
                language="en",
                story_id=story.id,
                content_hash=str(self.count),
                published=now,
                fetched_at=now,
                updated_at=now,
            )
            session.add(article)
            session.flush()
            self.notifier(session, article)
            return article.id
