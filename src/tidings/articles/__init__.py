"""Articles: the article pulled out of a page, its identity URL, its language, the
per-source boilerplate learned from a site's pages, and the story it belongs to.

Modules (import them directly; this package keeps its import light):

- ``extract``: ``extract_article(html, url) -> ExtractedArticle`` (trafilatura underneath).
- ``urls``: ``canonical_url(url)`` — an article's identity, tracking parameters removed.
- ``language``: ``detect_language(text)`` — ISO 639-1 code, from the text itself.
- ``boilerplate``: ``learn_and_strip(...)`` — blocks a source repeats inside its articles.
- ``stories``: ``StoryIndex`` — near-duplicate articles from several outlets are one story.
"""
