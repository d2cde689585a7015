"""Where an SQL statement ends: one scanner over a lexer per set of quoting rules.

The executor splits the text itself where a multi-statement string could slip past a
read-only transaction (PostgreSQL's simple protocol and SQL Server batches run
"COMMIT; ..." happily), and :func:`data_create.prompt.extract_sql` cuts a model's answer
at the end of its first statement.  Both walk the text with :func:`tokens`; they differ
only in the lexer.  Hand-written rather than sqlglot's tokenizer on purpose: the
executor must follow the *server's* rules for quotes and comments (sqlglot's are the
dialect's as sqlglot reads it, which is what the validator checked; a disagreement
must not let a second statement through), and must refuse what it cannot close.

A lexer is a compiled pattern with named groups, tried at each position:
``skip`` (space, ``--`` comment), ``quoted`` (a whole string or quoted identifier),
``comment`` (an opening ``/*``; nested comments are followed to their end),
``dollar`` (PostgreSQL's ``$tag$``; the string runs to the same tag), ``word``,
``semi``, ``open`` (a quote that never closes) and ``other``.

>>> first_statement("SELECT ';' AS x; DROP TABLE t", ANY_SQL)
"SELECT ';' AS x"
>>> single_statement("SELECT 1; -- done", POSTGRES).body
'SELECT 1'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ANY_SQL",
    "POSTGRES",
    "TSQL",
    "NotOneStatement",
    "Statement",
    "first_statement",
    "single_statement",
    "tokens",
]

_ID_START = r"A-Za-z_\x80-\U0010ffff"
# PostgreSQL with standard_conforming_strings on (the executor's session sets it).
POSTGRES = re.compile(
    rf"""(?P<skip>\s+|--[^\r\n]*)
    |(?P<comment>/\*)
    |(?P<quoted>[eE]'(?:[^'\\]|\\.|'')*'|'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*")
    |(?P<dollar>\$(?:[{_ID_START}][0-9{_ID_START}]*)?\$)
    |(?P<word>[{_ID_START}][0-9$A-Za-z_\x80-\U0010ffff]*)
    |(?P<semi>;)
    |(?P<open>['"])
    |(?P<other>.)""",
    re.S | re.X,
)
TSQL = re.compile(
    rf"""(?P<skip>\s+|--[^\r\n]*)
    |(?P<comment>/\*)
    |(?P<quoted>'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*"|\[[^\]]*(?:\]\][^\]]*)*\])
    |(?P<word>[{_ID_START}@#][0-9$@#A-Za-z_\x80-\U0010ffff]*)
    |(?P<semi>;)
    |(?P<open>['"\[])
    |(?P<other>.)""",
    re.S | re.X,
)
# Any engine's quotes at once, for text whose dialect is unknown (a model's answer):
# '...', "...", `...`, [...] and /* ... */ (not nested) hide a semicolon.
ANY_SQL = re.compile(
    r"""(?P<skip>\s+|--[^\n]*)
    |(?P<quoted>'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`|\[[^\]]*\]
        |/\*.*?\*/)
    |(?P<semi>;)
    |(?P<open>['"`\[]|/\*)
    |(?P<other>.)""",
    re.S | re.X,
)
_COMMENT_EDGE = re.compile(r"/\*|\*/")
_LEADING_WORD = re.compile(r"(?:\s+|--[^\r\n]*|/\*.*?\*/|\()*([A-Za-z]+)", re.S)


class NotOneStatement(ValueError):
    """The text is not exactly one statement that can be scanned to its end."""


def tokens(sql: str, lexer: re.Pattern[str]) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` for each token of ``sql``, left to right.

    A nested ``/* */`` comment comes out as one ``comment`` token, a dollar-quoted
    string as one ``dollar`` token.  Raises :class:`NotOneStatement` on reaching a
    comment, string or quoted identifier that never closes.

    >>> [kind for kind, _, _ in tokens("SELECT /* a /* b */ */ 'x;y';", POSTGRES)]
    ['word', 'skip', 'comment', 'skip', 'quoted', 'semi']
    """
    pos, size = 0, len(sql)
    while pos < size:
        match = lexer.match(sql, pos)
        kind, start, pos = match.lastgroup, match.start(), match.end()  # type: ignore[union-attr]
        if kind == "comment":
            depth = 1
            while depth:
                edge = _COMMENT_EDGE.search(sql, pos)
                if edge is None:
                    raise NotOneStatement("unterminated /* comment")
                depth += 1 if edge.group() == "/*" else -1
                pos = edge.end()
        elif kind == "dollar":
            tag = match.group()  # type: ignore[union-attr]
            close = sql.find(tag, pos)
            if close < 0:
                raise NotOneStatement("unterminated dollar-quoted string")
            pos = close + len(tag)
        elif kind == "open":
            raise NotOneStatement("unterminated quoted string or identifier")
        yield kind, start, pos  # type: ignore[misc]


def first_statement(sql: str, lexer: re.Pattern[str] = ANY_SQL) -> str:
    """Everything before the first top-level ``;``; all of ``sql`` when none is found
    before the end or before something that never closes (nothing is guessed).

    >>> first_statement("SELECT [a;b] FROM t; SELECT 2")
    'SELECT [a;b] FROM t'
    >>> first_statement("SELECT 'unclosed; SELECT 2")
    "SELECT 'unclosed; SELECT 2"
    """
    try:
        for kind, start, _ in tokens(sql, lexer):
            if kind == "semi":
                return sql[:start]
    except NotOneStatement:
        pass
    return sql


@dataclass(frozen=True, slots=True)
class Statement:
    body: str  # the statement without its trailing semicolon(s)
    first_word: str  # lower-cased first keyword ("" if none)
    words: frozenset[str]  # upper-cased words outside quotes and comments (when asked for)


def single_statement(sql: str, lexer: re.Pattern[str], want_words: bool = False) -> Statement:
    """The one statement in ``sql``; :class:`NotOneStatement` if there is more than one
    or the text cannot be scanned to its end.

    >>> single_statement("SELECT 1; DELETE FROM t", POSTGRES)
    Traceback (most recent call last):
    ...
    data_create.statements.NotOneStatement: only one statement may run at a time
    """
    stripped = sql.rstrip().rstrip(";").rstrip()
    if ";" not in stripped and not want_words:  # the common case: nothing to split
        match = _LEADING_WORD.match(stripped)
        return Statement(stripped, match.group(1).lower() if match else "", frozenset())
    words: list[str] = []
    end: int | None = None  # where the first top-level semicolon stands
    for kind, start, stop in tokens(sql, lexer):
        if kind == "semi":
            if end is None:
                end = start
        elif kind not in ("skip", "quoted", "comment", "dollar") and end is not None:
            raise NotOneStatement("only one statement may run at a time")
        elif kind == "word":
            words.append(sql[start:stop])
    body = sql[:end].rstrip() if end is not None else sql.rstrip()
    first = _LEADING_WORD.match(body)
    return Statement(
        body,
        first.group(1).lower() if first else "",
        frozenset(w.upper() for w in words) if want_words else frozenset(),
    )
