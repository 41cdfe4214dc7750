"""The alert language: a query string becomes a tree, or a ``QueryError`` that says what and where.

Grammar (DESIGN.md, "Alert queries")::

    query   := clause+                       implicit AND between clauses
    clause  := unary (("OR" | "|") unary)*   OR binds tighter than AND
    unary   := "-" unary | primary            negation of a word, phrase, group or field
    primary := "(" query ")" | '"' words '"' | field | word
    field   := "site:" host[/path] | "intitle:" (word | '"' words '"') | "lang:" code

Decisions the design leaves open:

* A word that analyses to several tokens (``Jong-un``, ``10:30``, ``AT&T``) is a phrase; one
  that analyses to none (``&``, ``—``) is dropped.
* ``name:value`` is field syntax when ``name`` is ASCII letters and ``value`` does not start
  with ``/``.  Unknown names are rejected (quote the text to search for it), so a typo such as
  ``tilte:x`` is not silently searched as words; ``http://…`` is an ordinary word (a phrase).
* A query must be able to match only by containing something: an OR is positive when all its
  branches are, an AND when any child is, a negation never.  ``kim OR -putin`` is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tidings.alerts.analysis import analyze

MAX_QUERY_CHARS = 1000
MAX_TERMS = 50
MAX_DEPTH = 8
FIELDS = ("site", "intitle", "lang")


class QueryError(ValueError):
    """A query Tidings cannot use; the message names what is wrong and where (1-based column)."""

    def __init__(self, problem: str, column: int | None = None) -> None:
        self.problem = problem
        self.column = column
        super().__init__(problem if column is None else f"{problem} at column {column}")


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One token, in title or text (or the title only)."""

    token: str
    in_title: bool = False


@dataclass(frozen=True)
class Phrase:
    """Consecutive tokens within the title or within the text (or the title only)."""

    tokens: tuple[str, ...]
    in_title: bool = False


@dataclass(frozen=True)
class Site:
    """The article URL's host is ``host`` or a subdomain of it, and its path starts with ``path``."""

    host: str
    path: str = ""


@dataclass(frozen=True)
class Lang:
    """The article's language is ``code`` (``en`` also covers ``en-gb``)."""

    code: str


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Leaf = Term | Phrase | Site | Lang
Node = Term | Phrase | Site | Lang | And | Or | Not


def parse(query: str) -> Node:
    """The tree of ``query``; raises ``QueryError`` for anything the language does not allow."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is too long: {len(query)} characters (limit {MAX_QUERY_CHARS})")
    plain = _PLAIN.match(query) and not _NEGATION.search(query)
    tree = _plain_words(query) if plain else _Parser(_lex(query)).parse()
    if tree is None:
        raise QueryError("empty query: it has no word, phrase or field")
    _check_limits(tree)
    return tree


_PLAIN = re.compile(r'[^"()|:]*\Z')
_NEGATION = re.compile(r"(?:^|\s)-")


def _plain_words(query: str) -> Node | None:
    """The common case, parsed quickly: words only (no quotes, groups, fields, negation)."""
    words = query.split()
    if "OR" in words:
        return _Parser(_lex(query)).parse()
    found = [_words(_Lexeme("word", word, 0), in_title=False, quoted=False) for word in words]
    return _combine(And, [node for node in found if node is not None])


def words_text(leaf: Term | Phrase) -> str:
    """How a matched term is shown (and highlighted): its tokens, space-separated."""
    return leaf.token if isinstance(leaf, Term) else " ".join(leaf.tokens)


def leaves(node: Node) -> list[Leaf]:
    """Every leaf of the tree, in query order."""
    if isinstance(node, And | Or):
        return [leaf for child in node.children for leaf in leaves(child)]
    if isinstance(node, Not):
        return leaves(node.child)
    return [node]


def is_positive(node: Node) -> bool:
    """Whether every article the node matches must contain some positive term."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(is_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(is_positive(child) for child in node.children)
    return True


def format_query(node: Node) -> str:
    """A query string that parses back to ``node``."""
    if isinstance(node, Term):
        return ("intitle:" if node.in_title else "") + node.token
    if isinstance(node, Phrase):
        return ("intitle:" if node.in_title else "") + '"' + " ".join(node.tokens) + '"'
    if isinstance(node, Site):
        return f"site:{node.host}{node.path}"
    if isinstance(node, Lang):
        return f"lang:{node.code}"
    if isinstance(node, Not):
        return "-" + _grouped(node.child)
    joiner = " OR " if isinstance(node, Or) else " "
    return joiner.join(_grouped(child) for child in node.children)


def _grouped(node: Node) -> str:
    return f"({format_query(node)})" if isinstance(node, And | Or) else format_query(node)


def _check_limits(tree: Node) -> None:
    count = len(leaves(tree))
    if count > MAX_TERMS:
        raise QueryError(f"too many terms: {count} (limit {MAX_TERMS})")
    if not is_positive(tree):
        raise QueryError(
            "no positive term: the query must require a word, phrase or field outside any negation"
        )


# --- lexing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # ( ) OR - word phrase field
    text: str
    column: int
    field: str = ""


_DELIMITERS = frozenset('()"|')
_FIELD = re.compile(r"([A-Za-z]+):(.*)\Z", re.DOTALL)


def _lex(query: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            lexemes.append(_Lexeme(char, char, i + 1))
            i += 1
        elif char == "|":
            lexemes.append(_Lexeme("OR", char, i + 1))
            i += 1
        elif char == '"':
            end = _closing_quote(query, i)
            lexemes.append(_Lexeme("phrase", query[i + 1 : end], i + 1))
            i = end + 1
        elif char == "-" and _starts_term(query, i + 1):
            lexemes.append(_Lexeme("-", char, i + 1))
            i += 1
        else:
            i = _lex_word(query, i, lexemes)
    return lexemes


def _closing_quote(query: str, start: int) -> int:
    end = query.find('"', start + 1)
    if end < 0:
        raise QueryError("unbalanced quote", start + 1)
    return end


def _starts_term(query: str, i: int) -> bool:
    return i < len(query) and not query[i].isspace() and query[i] not in ")|"


def _word_end(query: str, start: int) -> int:
    end = start
    while end < len(query) and not query[end].isspace() and query[end] not in _DELIMITERS:
        end += 1
    return end


def _lex_word(query: str, start: int, lexemes: list[_Lexeme]) -> int:
    """Lex a word, ``OR`` or a field at ``start``; return where the next lexeme starts."""
    end = _word_end(query, start)
    word = query[start:end]
    if word == "OR":
        lexemes.append(_Lexeme("OR", word, start + 1))
        return end
    field = _FIELD.match(word)
    if field is None or field.group(2).startswith("/"):
        lexemes.append(_Lexeme("word", word, start + 1))
        return end
    name, value = field.group(1).lower(), field.group(2)
    if name not in FIELDS:
        raise QueryError(
            f"unknown field '{field.group(1)}:' (fields are site:, intitle:, lang:; "
            "quote the text to search for it)",
            start + 1,
        )
    if not value and name == "intitle" and end < len(query) and query[end] == '"':
        closing = _closing_quote(query, end)
        lexemes.append(_Lexeme("field", query[end + 1 : closing], start + 1, name + '"'))
        return closing + 1
    if not value:
        raise QueryError(f"empty value for {name}:", start + 1)
    lexemes.append(_Lexeme("field", value, start + 1, name))
    return end


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, lexemes: list[_Lexeme]) -> None:
        self.lexemes = lexemes
        self.position = 0

    def peek(self) -> _Lexeme | None:
        return self.lexemes[self.position] if self.position < len(self.lexemes) else None

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.position]
        self.position += 1
        return lexeme

    def parse(self) -> Node | None:
        tree = self.clauses(depth=0)
        extra = self.peek()
        if extra is not None:  # only a ")" without its "(" stops the top level early
            raise QueryError("unbalanced parenthesis", extra.column)
        return tree

    def clauses(self, depth: int) -> Node | None:
        children: list[Node] = []
        while (lexeme := self.peek()) is not None and lexeme.kind != ")":
            clause = self.clause(depth)
            if clause is not None:
                children.append(clause)
        return _combine(And, children)

    def clause(self, depth: int) -> Node | None:
        options = [self.unary(depth)]
        while (lexeme := self.peek()) is not None and lexeme.kind == "OR":
            self.take()
            options.append(self.unary(depth, after_or=lexeme))
        return _combine(Or, [option for option in options if option is not None])

    def unary(self, depth: int, after_or: _Lexeme | None = None) -> Node | None:
        lexeme = self.peek()
        if lexeme is None or lexeme.kind in ("OR", ")"):
            where = after_or or lexeme
            column = where.column if where else None
            raise QueryError("OR needs a term on both sides", column)
        if lexeme.kind == "-":
            self.take()
            child = self.unary(depth)
            return None if child is None else Not(child)
        return self.primary(depth)

    def primary(self, depth: int) -> Node | None:
        lexeme = self.take()
        if lexeme.kind == "(":
            return self.group(lexeme, depth + 1)
        if lexeme.kind == "phrase":
            return _words(lexeme, in_title=False, quoted=True)
        if lexeme.kind == "field":
            return _field(lexeme)
        return _words(lexeme, in_title=False, quoted=False)

    def group(self, opening: _Lexeme, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            raise QueryError(f"nested deeper than {MAX_DEPTH} levels", opening.column)
        if (lexeme := self.peek()) is not None and lexeme.kind == ")":
            raise QueryError("empty parentheses", opening.column)
        inner = self.clauses(depth)
        closing = self.peek()
        if closing is None:
            raise QueryError("unbalanced parenthesis", opening.column)
        self.take()
        return inner


def _combine(kind: type[And] | type[Or], children: list[Node]) -> Node | None:
    """``kind`` of ``children``, flattened; a single child stands alone."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _words(lexeme: _Lexeme, *, in_title: bool, quoted: bool) -> Term | Phrase | None:
    tokens = analyze(lexeme.text)
    if not tokens:
        if quoted:
            raise QueryError("empty phrase", lexeme.column)
        return None
    if len(tokens) == 1:
        return Term(tokens[0], in_title)
    return Phrase(tuple(tokens), in_title)


_HOST = re.compile(r"[^\W_]([\w-]*[^\W_])?(\.[^\W_]([\w-]*[^\W_])?)*\Z")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*\Z")


def _field(lexeme: _Lexeme) -> Node:
    if lexeme.field.startswith("intitle"):
        words = _words(lexeme, in_title=True, quoted=lexeme.field.endswith('"'))
        if words is None:
            raise QueryError("intitle: needs a word or a quoted phrase", lexeme.column)
        return words
    if lexeme.field == "lang":
        return _language(lexeme)
    return _site(lexeme)


def _language(lexeme: _Lexeme) -> Lang:
    code = normalize_language(lexeme.text)
    if not _LANGUAGE.match(code):
        raise QueryError(f"invalid language code '{lexeme.text}' (e.g. lang:en)", lexeme.column)
    return Lang(code)


def _site(lexeme: _Lexeme) -> Site:
    host, path = split_site(lexeme.text)
    if not _HOST.match(host):
        raise QueryError(
            f"invalid site '{lexeme.text}' (e.g. site:example.com/world)", lexeme.column
        )
    return Site(host, path)


def normalize_language(code: str) -> str:
    """``en_GB`` → ``en-gb``: languages compare lower-case with hyphens."""
    return code.strip().lower().replace("_", "-")


def normalize_host(host: str) -> str:
    """Lower-case, no port, no trailing dot, no leading ``www.``."""
    host = host.lower().rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    return host[4:] if host.startswith("www.") else host


def split_site(value: str) -> tuple[str, str]:
    """``https://www.Example.com/World/`` → (``example.com``, ``/world``)."""
    value = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", value.strip())
    host, _, path = value.partition("/")
    path = ("/" + path.lower()).rstrip("/") if path else ""
    return normalize_host(host), path
