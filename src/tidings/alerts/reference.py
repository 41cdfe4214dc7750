"""The reference evaluator: the obvious, slow, clearly correct reading of a query tree.

It analyses the article afresh for every call and walks the tree literally.  It is the oracle
the matching engine and the preview are tested against, not something to run in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.alerts.analysis import analyze
from tidings.alerts.model import MatchArticle, language_matches, site_matches, url_host_path
from tidings.alerts.query import And, Lang, Node, Not, Or, Phrase, Site, Term, words_text


@dataclass(frozen=True)
class _Fields:
    title: list[str]
    text: list[str]
    host: str
    path: str
    language: str | None


def evaluate(tree: Node, article: MatchArticle) -> tuple[bool, list[str]]:
    """Whether ``tree`` matches ``article``, and the matched terms (empty when it does not)."""
    fields = _fields(article)
    if not _matches(tree, fields):
        return False, []
    return True, matched_terms(tree, fields)


def _fields(article: MatchArticle) -> _Fields:
    host, path = url_host_path(article.url)
    return _Fields(analyze(article.title), analyze(article.text), host, path, article.language)


def _matches(node: Node, fields: _Fields) -> bool:
    if isinstance(node, And):
        return all(_matches(child, fields) for child in node.children)
    if isinstance(node, Or):
        return any(_matches(child, fields) for child in node.children)
    if isinstance(node, Not):
        return not _matches(node.child, fields)
    return _leaf_matches(node, fields)


def _leaf_matches(node: Node, fields: _Fields) -> bool:
    if isinstance(node, Term | Phrase):
        tokens = (node.token,) if isinstance(node, Term) else node.tokens
        in_text = not node.in_title and _contains(fields.text, tokens)
        return in_text or _contains(fields.title, tokens)
    if isinstance(node, Site):
        return site_matches(node.host, node.path, fields.host, fields.path)
    if isinstance(node, Lang):
        return language_matches(node.code, fields.language)
    raise TypeError(f"not a leaf: {node!r}")


def _contains(field: list[str], tokens: tuple[str, ...]) -> bool:
    """Whether ``tokens`` occur consecutively in ``field``."""
    width = len(tokens)
    return any(tuple(field[i : i + width]) == tokens for i in range(len(field) - width + 1))


def matched_terms(tree: Node, fields: _Fields) -> list[str]:
    """The words and phrases outside any negation that the article contains, in query order."""
    found: list[str] = []
    for leaf in _positive_leaves(tree):
        if isinstance(leaf, Term | Phrase) and _leaf_matches(leaf, fields):
            text = words_text(leaf)
            if text not in found:
                found.append(text)
    return found


def _positive_leaves(node: Node) -> list[Node]:
    if isinstance(node, And | Or):
        return [leaf for child in node.children for leaf in _positive_leaves(child)]
    if isinstance(node, Not):
        return []
    return [node]
