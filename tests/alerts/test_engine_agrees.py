"""The engine's answers are the reference evaluator's, for random queries, articles and churn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidings.alerts.engine import AlertIndex
from tidings.alerts.model import Match, MatchArticle
from tidings.alerts.query import (
    And,
    Lang,
    Node,
    Not,
    Or,
    Phrase,
    Site,
    Term,
    format_query,
    is_positive,
    parse,
)
from tidings.alerts.reference import evaluate
from tidings.alerts.stats import TokenStats

WORDS = ["kim", "jong", "un", "assad", "korea", "north", "trump", "the", "of", "é"]
SURFACES = [
    "Kim",
    "Jong-un",
    "KIM JONG UN",
    "Assad's",
    "Korea",
    "north",
    "Trump",
    "the",
    "of",
    "É",
    "—",
]
SITES = [
    ("oneindia.com", ""),
    ("oneindia.com", "/world"),
    ("example.org", ""),
    ("news.example.org", ""),
]
URLS = [
    None,
    "https://www.oneindia.com/world/x.html",
    "https://oneindia.com/worldcup/y",
    "http://news.example.org/a",
    "https://example.org/",
    "https://notoneindia.com/world",
]
LANGUAGES = [None, "en", "en-GB", "fr", "en_us"]

words = st.sampled_from(WORDS)
leaves = st.one_of(
    st.builds(Term, words, st.booleans()),
    st.builds(
        lambda ws, t: Phrase(tuple(ws), t), st.lists(words, min_size=2, max_size=3), st.booleans()
    ),
    st.builds(lambda s: Site(*s), st.sampled_from(SITES)),
    st.builds(Lang, st.sampled_from(["en", "fr", "en-gb"])),
)


def _trees(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    group = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(group.map(And), group.map(Or), children.map(Not))


# The shapes the engine treats specially, drawn on purpose as well as by the random trees: a
# key or an AND of keys (matched without verification), and ANDs of keys, ORs of keys and
# negated keys or negated ORs of keys (verified by set operations).
ors_of_leaves = st.lists(leaves, min_size=2, max_size=3).map(tuple).map(Or)
conjunctions = st.builds(
    lambda positive, negative: And(tuple(positive) + tuple(Not(n) for n in negative)),
    st.lists(st.one_of(leaves, ors_of_leaves), min_size=1, max_size=3),
    st.lists(st.one_of(leaves, ors_of_leaves), max_size=2),
)
# The same shapes over a handful of keys, so that a key often comes twice (`kim OR kim`,
# `kim (kim OR jong)`, `kim -(kim OR the)`): the engine splits such a query into cases, one
# per set of its ORs' keys present, and a repeated key must neither make two cases hold at once
# nor lose one.  Two ORs of up to four keys make more cases than it splits (it verifies those).
few_keys = st.one_of(
    st.builds(Term, st.sampled_from(["kim", "jong", "the"]), st.booleans()),
    st.just(Phrase(("kim", "jong"))),
    st.just(Lang("en")),
    st.just(Site("oneindia.com", "")),
)
ors_of_few_keys = st.lists(few_keys, min_size=2, max_size=4).map(tuple).map(Or)
conjunctions_of_few_keys = st.builds(
    lambda positive, negative: And(tuple(positive) + tuple(Not(n) for n in negative)),
    st.lists(st.one_of(few_keys, ors_of_few_keys), min_size=1, max_size=3),
    st.lists(st.one_of(few_keys, ors_of_few_keys), max_size=2),
)
queries = st.one_of(
    leaves,
    ors_of_leaves,
    conjunctions,
    ors_of_few_keys,
    conjunctions_of_few_keys,
    st.recursive(leaves, _trees, max_leaves=8).filter(is_positive),
)
articles = st.builds(
    MatchArticle,
    id=st.just(1),
    title=st.lists(st.sampled_from(SURFACES), max_size=5).map(" ".join),
    text=st.lists(st.sampled_from(SURFACES), max_size=25).map(" ".join),
    url=st.sampled_from(URLS),
    language=st.sampled_from(LANGUAGES),
)
# Operations name a query by its place in a small pool, so that several alerts often share one
# query (one group in the engine) and removing one of them must leave the others matching.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 12), st.integers(0, 7)),
        st.tuples(st.just("remove"), st.integers(1, 12), st.none()),
    ),
    min_size=1,
    max_size=30,
)
stats = st.sampled_from(
    [
        TokenStats(),
        TokenStats({word: 0.9 for word in WORDS}),
        TokenStats({"kim": 0.001, "the": 0.99}),
    ]
)


def expected(alerts: dict[int, str], article: MatchArticle) -> list[Match]:
    answer = []
    for alert_id in sorted(alerts):
        matched, terms = evaluate(parse(alerts[alert_id]), article)
        if matched:
            answer.append(Match(alert_id, tuple(terms)))
    return answer


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(queries, min_size=8, max_size=8),
    operations,
    st.lists(articles, min_size=1, max_size=3),
    stats,
    st.sampled_from([0.3, 0.0001, 1.0]),
)
def test_engine_agrees_with_reference_through_adds_and_removes(
    pool, ops, arts, token_stats, threshold
):
    index = AlertIndex(token_stats, always_threshold=threshold)
    alerts: dict[int, str] = {}
    for op, alert_id, which in ops:
        apply(index, alerts, pool, op, alert_id, which)
        agrees(index, alerts, arts)
    assert len(index) == len(alerts)


def apply(
    index: AlertIndex, alerts: dict[int, str], pool: list[Node], op: str, alert_id: int, which: Any
) -> None:
    """One operation of ``operations`` on the index and on ``alerts``, the reference's view."""
    if op == "add":
        alerts[alert_id] = format_query(pool[which])
        index.add(alert_id, alerts[alert_id])
    else:
        assert index.remove(alert_id) == (alerts.pop(alert_id, None) is not None)


def agrees(index: AlertIndex, alerts: dict[int, str], articles: list[MatchArticle]) -> None:
    for article in articles:
        assert sorted(index.match(article)) == expected(alerts, article)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(queries, min_size=8, max_size=8),
    operations,
    operations,
    st.lists(articles, min_size=1, max_size=3),
    stats,
    st.sampled_from([0.3, 0.0001, 1.0]),
)
def test_an_index_loaded_at_once_agrees_with_reference_and_keeps_changing(
    pool, loaded, later, arts, token_stats, threshold
):
    """``loading()`` (a worker's start) only notes the matches of its adds, and makes them when
    it ends, or when a match or a removal of a noted alert needs them first."""
    index = AlertIndex(token_stats, always_threshold=threshold)
    alerts: dict[int, str] = {}
    with index.loading():
        for step, (op, alert_id, which) in enumerate(loaded):
            apply(index, alerts, pool, op, alert_id, which)
            if step % 7 == 6:  # now and then a match in the middle of the load
                agrees(index, alerts, arts)
    agrees(index, alerts, arts)
    for op, alert_id, which in later:
        apply(index, alerts, pool, op, alert_id, which)
        agrees(index, alerts, arts)
    assert len(index) == len(alerts)


def test_a_layout_interrupted_keeps_the_rest_noted_and_nested_loads_lay_out_once(monkeypatch):
    """If making a posting's matches fails (a MemoryError, Ctrl-C), that posting gets none of
    them and it and the postings after it stay noted: the next match makes them, no alert is
    lost or doubled.  An inner ``loading()`` leaves the layout to the outermost."""
    from tidings.alerts import engine

    index = AlertIndex()
    article = MatchArticle(1, "", "kim trump assad", None, None)
    real = engine._Posting.lay_out  # noqa: SLF001 - failing inside the layout, on purpose
    calls = []

    def failing_second(posting):  # type: ignore[no-untyped-def]
        calls.append(posting)
        if len(calls) == 2:
            raise MemoryError
        return real(posting)

    with index.loading():
        with index.loading():  # nested: nothing is made when it ends
            index.add(1, "kim")
            index.add(2, "kim -north")
        index.add(3, "trump")
        index.add(4, "trump -north")
        assert not index._postings["kim"].matches  # noqa: SLF001
        monkeypatch.setattr(engine._Posting, "lay_out", failing_second)  # noqa: SLF001
        index.add(5, "assad")
        with pytest.raises(MemoryError):
            index.match(article)
    monkeypatch.setattr(engine._Posting, "lay_out", real)  # noqa: SLF001
    assert [alert_id for alert_id, _ in sorted(index.match(article))] == [1, 2, 3, 4, 5]
    with index.loading():
        index.add(6, "trump")
    assert [alert_id for alert_id, _ in sorted(index.match(article))] == [1, 2, 3, 4, 5, 6]


def test_matches_noted_while_loading_are_made_when_a_match_needs_them():
    """Inside ``loading()``, a match makes what was noted so far, and what is noted after it
    is made for the next one: more alerts of a query already matched, for an exact case under
    one key, under a pair of keys (`kim officials`: under `kim`, by `officials`) and quiet
    conditional cases taken together."""
    stats = TokenStats({"kim": 0.001, "jong": 0.001, "trump": 0.001, "officials": 0.002})
    index = AlertIndex(stats)
    article = MatchArticle(1, "Talks", "Kim Jong-un met officials", None, None)
    with index.loading():
        index.add(1, "kim -trump")
        index.add(2, "kim")
        index.add(3, '"kim jong"')
        index.add(8, "kim officials")
        assert sorted(index.match(article)) == [
            Match(1, ("kim",)),
            Match(2, ("kim",)),
            Match(3, ("kim jong",)),
            Match(8, ("kim", "officials")),
        ]
        assert index._postings["kim"].seconds == {"officials"}  # noqa: SLF001 - a pair anchor
        for alert_id, query in ((4, "kim -trump"), (5, "kim"), (6, '"kim jong"')):
            index.add(alert_id, query)
        index.add(9, "kim officials")
        assert [alert_id for alert_id, _ in sorted(index.match(article))] == [
            1,
            2,
            3,
            4,
            5,
            6,
            8,
            9,
        ]
        index.add(7, "kim -trump")
    assert [alert_id for alert_id, _ in sorted(index.match(article))] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    index.remove(4)
    index.remove(8)
    assert [alert_id for alert_id, _ in sorted(index.match(article))] == [1, 2, 3, 5, 6, 7, 9]


@settings(max_examples=300, deadline=None)
@given(queries)
def test_formatted_query_parses_back_to_the_same_matches(tree):
    article = MatchArticle(
        1,
        "Kim Jong-un and the north",
        "Assad of Korea met Trump",
        "https://oneindia.com/world",
        "en",
    )
    assert evaluate(parse(format_query(tree)), article) == evaluate(tree, article)


def test_removing_one_of_two_phrases_that_share_a_first_word_keeps_the_other():
    index = AlertIndex()
    index.add(1, '"kim jong"')
    index.add(2, '"kim jong" -trump')
    index.add(3, '"kim jong" -trump')
    index.remove(2)
    article = MatchArticle(1, "Talks", "Kim Jong-un met officials", None, None)
    assert sorted(index.match(article)) == [Match(1, ("kim jong",)), Match(3, ("kim jong",))]
    index.remove(3)
    assert index.match(article) == [Match(1, ("kim jong",))]


def test_an_or_of_keys_matches_once_with_the_terms_present():
    """`kim OR jong` is split into cases (kim without jong, jong without kim, both): decided
    by set operations, without walking the query, and with the terms each case found."""
    index = AlertIndex()
    index.add(1, "kim OR jong")
    index.add(2, "kim OR jong")
    index.add(3, "kim -trump")
    articles = {
        "kim": MatchArticle(1, "", "Kim spoke", None, None),
        "jong": MatchArticle(2, "", "Jong spoke", None, None),
        "both": MatchArticle(3, "", "Kim Jong spoke", None, None),
        "trump": MatchArticle(4, "", "Kim met Trump", None, None),
    }
    found = {name: sorted(index.match(article)) for name, article in articles.items()}
    assert found == {
        "kim": [Match(1, ("kim",)), Match(2, ("kim",)), Match(3, ("kim",))],
        "jong": [Match(1, ("jong",)), Match(2, ("jong",))],
        "both": [Match(1, ("kim", "jong")), Match(2, ("kim", "jong")), Match(3, ("kim",))],
        "trump": [Match(1, ("kim",)), Match(2, ("kim",))],
    }
    stats = index.stats()
    assert stats["verified"] == 0
    assert stats["case_programs"] == stats["programs"] == 2
    index.remove(1)
    assert sorted(index.match(articles["both"])) == [
        Match(2, ("kim", "jong")),
        Match(3, ("kim",)),
    ]


def test_quiet_cases_under_one_anchor_are_decided_together_and_loud_ones_alone():
    """Under the anchor `kim`, the cases excluding rare keys are decided by one test against
    all the keys they exclude (their matches taken together); `kim -(the OR korea)` excludes a
    common word and is checked on its own.  Every change to those cases shows at once."""
    stats = TokenStats({"kim": 0.001, "jong": 0.001, "trump": 0.001, "korea": 0.001, "the": 0.9})
    queries = {1: "kim -jong", 2: "kim -trump", 3: "kim -(the OR korea)", 4: "kim OR assad"}
    index = AlertIndex(stats)
    alerts = dict(queries)
    for alert_id, query in queries.items():
        index.add(alert_id, query)
    texts = ["Kim spoke", "Kim met Trump", "Kim and the north", "Kim Jong in Korea", "Assad"]
    articles = [MatchArticle(n, "", text, None, None) for n, text in enumerate(texts)]

    def agrees() -> None:
        for article in articles:
            assert sorted(index.match(article)) == expected(alerts, article)

    agrees()
    assert [Match(1, ("kim",)), Match(2, ("kim",)), Match(3, ("kim",)), Match(4, ("kim",))] == (
        sorted(index.match(articles[0]))
    )
    index.add(5, "kim -jong")  # a new alert of a quiet case, after its matches were gathered
    alerts[5] = "kim -jong"
    agrees()
    index.remove(2)  # the only alert of a quiet case
    del alerts[2]
    agrees()
    index.remove(3)  # the loud one
    del alerts[3]
    agrees()
    index.add(2, "kim -(north OR trump)")
    alerts[2] = "kim -(north OR trump)"
    agrees()
    # Loud cases that all exclude `the` are decided by that one key when it is here.
    for alert_id, query in ((6, "kim -(the OR jong)"), (7, "kim -(the OR trump)")):
        index.add(alert_id, query)
        alerts[alert_id] = query
    agrees()
    index.remove(6)
    del alerts[6]
    agrees()


def changing(
    index: AlertIndex, alerts: dict[int, str], articles: list[MatchArticle]
) -> Callable[[int, str | None], None]:
    """``change(alert_id, query)``: add or change an alert (remove it, query None) in the index
    and in ``alerts``, then check the index against the reference on every article."""

    def change(alert_id: int, query: str | None) -> None:
        if query is None:
            index.remove(alert_id)
            del alerts[alert_id]
        else:
            index.add(alert_id, query)
            alerts[alert_id] = query
        for article in articles:
            assert sorted(index.match(article)) == expected(alerts, article)

    return change


def test_second_keys_of_a_first_key_cover_its_exact_and_checked_pairs_through_changes():
    """Under the first key `kim`, the pairs holding ready matches (`kim jong`) and those
    holding checks (`kim korea -trump`) share one set of second keys: an article with none of
    them skips both at once, and every add, change and remove keeps that set exact."""
    stats = TokenStats({"kim": 0.001, "jong": 0.002, "korea": 0.003, "trump": 0.004, "the": 0.9})
    index = AlertIndex(stats)
    alerts: dict[int, str] = {}
    texts = ["Kim spoke", "Kim Jong spoke", "Kim in Korea", "Kim met Trump in Korea", "Jong"]
    articles = [MatchArticle(n, "", text, None, None) for n, text in enumerate(texts)]

    change = changing(index, alerts, articles)

    def seconds() -> frozenset[str]:
        posting = index._postings.get("kim")  # noqa: SLF001 - the mechanism under test
        return posting.seconds if posting is not None else frozenset()

    change(1, "kim jong")  # exact, anchored under (kim, jong)
    assert seconds() == {"jong"}
    change(2, "kim korea -trump")  # checked, under (kim, korea)
    assert seconds() == {"jong", "korea"}
    change(3, "kim jong -the")  # checked too, under (kim, jong) like the exact one
    assert seconds() == {"jong", "korea"}
    change(1, None)  # the exact pair goes, the checked one under `jong` stays
    assert seconds() == {"jong", "korea"}
    change(3, "kim trump")  # a change: the check under `jong` goes, an exact pair comes
    assert seconds() == {"korea", "trump"}
    change(2, None)
    assert seconds() == {"trump"}
    change(4, "kim")
    change(3, None)
    assert seconds() == frozenset()
    change(4, None)
    assert not index._postings  # noqa: SLF001


def test_an_article_forms_the_word_pairs_of_a_wanted_head_and_tail_through_changes():
    """An article forms only the word pairs whose first word starts and whose second word ends
    a pair some query needs (counted on the words' postings): each add, change and remove of a
    phrase keeps those counts, and a posting kept only for them goes with the last of them."""
    index = AlertIndex()
    alerts: dict[int, str] = {}
    texts = ["Kim Jong Un spoke", "Jong Un and Kim", "Un Kim Jong", "Kim Jong", "the un"]
    articles = [MatchArticle(n, "", text, None, None) for n, text in enumerate(texts)]

    change = changing(index, alerts, articles)

    def ends(word: str) -> tuple[int, int] | None:
        posting = index._postings.get(word)  # noqa: SLF001 - the mechanism under test
        return None if posting is None else (posting.heads, posting.tails)

    change(1, '"kim jong"')
    assert (ends("kim"), ends("jong")) == ((1, 0), (0, 1))
    change(2, '"jong un" -the')  # `jong` ends one pair and starts another
    assert (ends("jong"), ends("un")) == ((1, 1), (0, 1))
    change(3, '"kim jong un"')  # a long phrase: both its pairs
    assert (ends("kim"), ends("jong"), ends("un")) == ((2, 0), (2, 2), (0, 2))
    change(1, '"un kim"')  # a change: `kim jong` goes, `un kim` comes
    assert (ends("kim"), ends("jong"), ends("un")) == ((1, 1), (2, 1), (1, 2))
    change(3, None)
    assert (ends("kim"), ends("jong"), ends("un")) == ((0, 1), (1, 0), (1, 1))
    change(2, None)
    change(1, None)
    assert not index._postings  # noqa: SLF001 - nothing kept for pairs no query needs


def test_a_query_of_common_keys_split_into_cases_is_anchored_not_walked_for_every_article():
    """`the`, `police -the` and `said OR kim` have only keys in most articles: their cases are
    still anchored under them (a set operation where found) instead of joining the
    always-check set, walked for every article; a long phrase of common words still joins it."""
    stats = TokenStats({"the": 0.9, "police": 0.7, "said": 0.6, "kim": 0.001})
    queries = {1: "the", 2: "police -the", 3: "said OR kim", 4: '"the police said"'}
    index = AlertIndex(stats)
    alerts = dict(queries)
    for alert_id, query in queries.items():
        index.add(alert_id, query)
    texts = ["The police said", "Police said Kim", "Kim", "the end"]
    articles = [MatchArticle(n, "", text, None, None) for n, text in enumerate(texts)]

    def agrees() -> None:
        for article in articles:
            assert sorted(index.match(article)) == expected(alerts, article)

    agrees()
    stats_now = index.stats()
    assert stats_now["always_check"] == 1  # only the phrase of three words
    assert stats_now["case_programs"] == 3
    index.remove(2)
    del alerts[2]
    index.add(5, "police -the")
    alerts[5] = "police -the"
    index.add(1, "said -kim")  # a change
    alerts[1] = "said -kim"
    agrees()
    for alert_id in list(alerts):
        index.remove(alert_id)
    assert index.stats()["always_check"] == 0 and not index._postings  # noqa: SLF001
