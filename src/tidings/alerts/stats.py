"""How common each token is: the matching engine anchors an alert under its rarest tokens.

``TokenStats`` gives a document frequency (a fraction of articles, 0…1) for any token.  It is
learned from stored articles when there are some (``TokenStats.learn``), and otherwise falls
back on a small built-in prior: the most frequent words of English news, ranked, and a guess
from a token's shape for everything else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# The most frequent words of English news text, most frequent first.
_COMMON_ENGLISH = [
    "the",
    "of",
    "to",
    "and",
    "a",
    "in",
    "that",
    "is",
    "for",
    "on",
    "it",
    "with",
    "as",
    "was",
    "he",
    "said",
    "by",
    "at",
    "from",
    "his",
    "be",
    "an",
    "have",
    "has",
    "are",
    "but",
    "not",
    "this",
    "had",
    "were",
    "they",
    "who",
    "which",
    "or",
    "its",
    "their",
    "been",
    "will",
    "one",
    "after",
    "also",
    "more",
    "would",
    "new",
    "about",
    "up",
    "we",
    "than",
    "there",
    "two",
    "out",
    "all",
    "first",
    "when",
    "year",
    "other",
    "been",
    "i",
    "last",
    "over",
    "some",
    "into",
    "people",
    "she",
    "her",
    "him",
    "can",
    "what",
    "no",
    "only",
    "years",
    "government",
    "time",
    "if",
    "could",
    "so",
    "our",
    "state",
    "president",
    "told",
    "may",
    "just",
    "like",
    "them",
    "do",
    "most",
    "even",
    "against",
    "before",
    "where",
    "being",
    "such",
    "should",
    "because",
    "these",
    "while",
    "you",
    "any",
    "now",
    "many",
    "three",
    "since",
    "then",
    "country",
    "police",
    "week",
    "world",
    "says",
    "percent",
    "during",
    "back",
    "make",
    "made",
    "between",
    "day",
    "officials",
    "us",
    "under",
    "still",
    "report",
    "minister",
    "how",
    "well",
    "news",
    "national",
    "city",
    "public",
    "both",
    "told",
    "according",
    "called",
    "including",
    "those",
    "several",
    "second",
    "way",
    "did",
    "very",
    "company",
    "percent",
    "official",
    "security",
    "court",
    "party",
    "million",
    "group",
    "members",
    "through",
    "added",
    "including",
    "home",
    "four",
    "support",
    "take",
    "get",
    "whether",
    "another",
    "part",
    "law",
    "did",
    "around",
    "high",
    "early",
    "house",
    "years",
    "days",
    "own",
    "long",
    "without",
    "next",
    "left",
    "later",
    "much",
    "political",
    "five",
    "work",
    "found",
    "help",
    "war",
    "billion",
    "military",
    "former",
    "office",
    "past",
    "however",
    "health",
    "family",
    "told",
    "leader",
    "local",
    "already",
    "five",
    "due",
    "chief",
    "among",
    "per",
    "power",
    "market",
    "since",
    "children",
    "women",
    "men",
    "death",
    "since",
    "killed",
    "told",
    "spokesman",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "today",
    "yesterday",
    "week",
    "month",
    "statement",
]

_DEFAULT_UNSEEN = 0.002
_PSEUDO_PRIORS = {"site:": 0.02, "lang:": 0.5}


class TokenStats:
    """Document frequencies: ``stats.df(token)`` is the share of articles containing it."""

    def __init__(
        self, frequencies: dict[str, float] | None = None, *, unseen: float = _DEFAULT_UNSEEN
    ) -> None:
        self._frequencies = frequencies if frequencies is not None else _prior()
        self._unseen = unseen

    @classmethod
    def learn(cls, articles: Iterable[Iterable[str]], *, minimum_articles: int = 200) -> TokenStats:
        """Frequencies counted over the token sets of ``articles``, over the prior.

        With fewer than ``minimum_articles`` the counts say little, so the prior is kept.
        """
        counts: Counter[str] = Counter()
        total = 0
        for tokens in articles:
            counts.update(set(tokens))
            total += 1
        if total < minimum_articles:
            return cls()
        frequencies = _prior()
        frequencies.update({token: count / total for token, count in counts.items()})
        return cls(frequencies, unseen=min(_DEFAULT_UNSEEN, 0.5 / total))

    def df(self, token: str) -> float:
        known = self._frequencies.get(token)
        if known is not None:
            return known
        if ":" in token:  # a field pseudo-token: site:… or lang:…
            return _PSEUDO_PRIORS.get(token[: token.index(":") + 1], self._unseen)
        return self._shape_prior(token)

    def _shape_prior(self, token: str) -> float:
        """Short tokens and numbers are more common than long words."""
        if len(token) <= 2 or token.isdigit():
            return max(self._unseen, 0.05)
        if len(token) <= 4:
            return max(self._unseen, 0.01)
        return self._unseen

    def __len__(self) -> int:
        return len(self._frequencies)


def _prior() -> dict[str, float]:
    frequencies: dict[str, float] = {}
    for rank, word in enumerate(_COMMON_ENGLISH, start=1):
        frequencies.setdefault(word, min(0.95, 0.9 * rank**-0.45))
    return frequencies
