"""The alert language as DESIGN.md states it: analysis, parsing, errors and limits."""

from __future__ import annotations

import pytest

from tidings.alerts.analysis import analyze
from tidings.alerts.query import And, Lang, Not, Or, Phrase, QueryError, Site, Term, parse


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Kim Jong-un", ["kim", "jong", "un"]),
        ("KIM JONG UN", ["kim", "jong", "un"]),
        ("Korea's", ["korea", "s"]),
        ("Pokémon", ["pokemon"]),
        ("POKÉMON", ["pokemon"]),
        ("हिंदी समाचार", ["हिंदी", "समाचार"]),
        ("金正恩", ["金", "正", "恩"]),
        ("Ελληνικά", ["ελληνικα"]),
        ("Ёжик", ["ежик"]),
        ("Straße", ["strasse"]),
        ("ｶﾀｶﾅ", ["カ", "タ", "カ", "ナ"]),
        ("ﬁnal ①", ["final", "1"]),
        ("snake_case 3.5%", ["snake", "case", "3", "5"]),
        ("", []),
    ],
)
def test_analysis_follows_the_design(text, tokens):
    assert analyze(text) == tokens


def test_devanagari_vowel_signs_stay_in_their_word():
    (word,) = analyze("हिंदी")
    assert len(word) == 5  # ह ि ं द ी: the marks are part of the token


def test_upper_case_or_binds_tighter_than_and():
    assert parse("assad kim OR putin") == And((Term("assad"), Or((Term("kim"), Term("putin")))))
    assert parse("assad kim | putin") == parse("assad kim OR putin")


def test_lower_case_or_is_a_word():
    assert parse("kim or putin") == And((Term("kim"), Term("or"), Term("putin")))


def test_hyphenated_word_is_a_phrase_and_cjk_run_too():
    assert parse("Jong-un") == Phrase(("jong", "un"))
    assert parse("金正恩") == Phrase(("金", "正", "恩"))


def test_negation_of_word_phrase_group_and_field():
    tree = parse('assad -trump -"north korea" -(a b) -site:x.com')
    assert tree == And(
        (
            Term("assad"),
            Not(Term("trump")),
            Not(Phrase(("north", "korea"))),
            Not(And((Term("a"), Term("b")))),
            Not(Site("x.com")),
        )
    )


def test_fields():
    assert parse("site:WWW.Example.com/World/") == Site("example.com", "/world")
    assert parse("site:https://example.com") == Site("example.com")
    assert parse("intitle:assad") == Term("assad", in_title=True)
    assert parse('intitle:"kim jong un"') == Phrase(("kim", "jong", "un"), in_title=True)
    assert parse("lang:en_GB kim") == And((Lang("en-gb"), Term("kim")))


def test_url_and_time_are_words_not_fields():
    assert parse("http://example.com/a") == Phrase(("http", "example", "com", "a"))
    assert parse("10:30") == Phrase(("10", "30"))


def test_punctuation_only_words_are_dropped():
    assert parse("kim & putin") == And((Term("kim"), Term("putin")))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('assad "north korea', "unbalanced quote at column 7"),
        ('assad kim "north', "unbalanced quote at column 11"),
        ("assad (kim OR putin", "unbalanced parenthesis at column 7"),
        ("assad kim)", "unbalanced parenthesis at column 10"),
        ("kim site:", "empty value for site: at column 5"),
        ("kim intitle:", "empty value for intitle: at column 5"),
        ("kim lang:", "empty value for lang: at column 5"),
        ("kim foo:bar", "unknown field 'foo:'"),
        ("-trump", "no positive term"),
        ("-(a b)", "no positive term"),
        ("kim OR -putin", "no positive term"),
        ("OR kim", "OR needs a term on both sides at column 1"),
        ("kim OR", "OR needs a term on both sides at column 5"),
        ("kim ()", "empty parentheses at column 5"),
        ('kim ""', "empty phrase at column 5"),
        ("site:-bad-", "invalid site '-bad-'"),
        ("lang:english1", "invalid language code"),
        ("", "empty query"),
        ("&&&", "empty query"),
    ],
)
def test_bad_queries_are_rejected_with_what_and_where(query, message):
    with pytest.raises(QueryError) as error:
        parse(query)
    assert message in str(error.value)


def test_unknown_field_error_names_its_column():
    with pytest.raises(QueryError) as error:
        parse("kim foo:bar")
    assert error.value.column == 5


def test_limits():
    parse("x" * 1000)
    with pytest.raises(QueryError, match="too long: 1001 characters"):
        parse("x" * 1001)
    parse(" ".join(["w"] * 50))
    with pytest.raises(QueryError, match="too many terms: 51"):
        parse(" ".join(["w"] * 51))
    parse("(" * 8 + "x" + ")" * 8)
    with pytest.raises(QueryError, match="nested deeper than 8 levels at column 9"):
        parse("(" * 9 + "x" + ")" * 9)


@pytest.mark.parametrize(
    "query",
    [
        "kim jong",
        "Kim Jong-un",
        "kim OR putin",
        "a OR",
        "kim & putin",
        "  ",
        "金正恩 news",
        "kim or x",
    ],
)
def test_plain_word_fast_path_parses_like_the_full_parser(query):
    from tidings.alerts import query as module

    def full(text):
        try:
            return module._Parser(module._lex(text)).parse()
        except QueryError as error:
            return str(error)

    def fast(text):
        try:
            return module._plain_words(text)
        except QueryError as error:
            return str(error)

    assert module._PLAIN.match(query) and not module._NEGATION.search(query)
    assert fast(query) == full(query)
