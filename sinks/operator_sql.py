"""Operators' SQL: one read-only SELECT over the platform's own tables, nothing else.

What an operator may run, and who enforces each part:

1. **Exactly one statement** (``one_statement``, ours): the text is lexed like ClickHouse lexes it
   (quoted strings and identifiers with backslash escapes, ``--`` and ``/* */`` comments); anything
   after a ``;`` but whitespace and comments is refused. chdb runs every statement of a
   multi-statement text, and per-query settings reach only the last one: that is how the probe
   read the Kafka administrator's password with ``…; SELECT 'y'``.
2. **Read-only, time, rows, memory and threads** (ClickHouse): the query runs on a connection
   whose *session* carries ``SESSION_LIMITS``, with ``readonly = 1`` set last, so nothing in the
   query (a ``SETTINGS`` clause, ``SET``) can lift them: ClickHouse refuses to change any setting in
   readonly mode. Never text appended to the query. A ClickHouse server is reached with the same
   settings on every request (a read-only user is better still; docs/operator-sql.md).
3. **What the statement reads** (ours, on ClickHouse's own parse, ``EXPLAIN AST``): a SELECT (no
   ``INTO OUTFILE``, no ``FORMAT``), no table function but ``ALLOWED_TABLE_FUNCTIONS``, no function
   in ``REFUSED_FUNCTIONS`` (``file()`` is also a scalar function, and readonly mode lets it read
   any file), and of the ``system`` and ``information_schema`` databases only ``ALLOWED_SYSTEM_TABLES``.

Plain functions except ``run_operator_query``, which takes any client with ``query`` (chdb, a
server, or the sink service's operator endpoint).
"""
from __future__ import annotations

import hashlib
import re

from creditstream.sinks.clickhouse import json_value

MAX_RESULT_ROWS = 10_000
SESSION_LIMITS = {  # the operator connection's session; readonly last: after it, nothing can change
    "max_execution_time": 30,  # seconds, whole query
    "timeout_overflow_mode": "throw",
    "max_result_rows": MAX_RESULT_ROWS,
    "result_overflow_mode": "break",  # the first 10,000 rows, not an error
    "max_memory_usage": 512 * 1024 * 1024,  # bytes per query
    "max_threads": 1,  # one core at most: look-ups and the sink keep the other
    "readonly": 1,
}
ALLOWED_SYSTEM_TABLES = frozenset({"tables", "columns", "parts", "databases", "one", "numbers"})
ALLOWED_TABLE_FUNCTIONS = frozenset({"numbers"})
# functions that read or reach outside the tables (file, url, …) or load models from files;
# every table-function name (system.table_functions) is refused too, unless allowed above
REFUSED_FUNCTIONS = frozenset({
    "file", "url", "urlcluster", "s3", "s3cluster", "hdfs", "remote", "remotesecure", "cluster",
    "clusterallreplicas", "executable", "input", "jdbc", "odbc", "mysql", "postgresql", "sqlite", "mongodb", "redis",
    "azureblobstorage", "gcs", "iceberg", "deltalake", "hudi", "fuzzjson", "catboostevaluate", "naivebayesclassifier",
    "getsetting", "getserversetting", "getmergetreesetting", "getclienthttpheader", "currentprofiles",
    "addresstoline", "addresstolinewithinlines", "addresstosymbol", "demangle", "dictget", "joinget",
})
STATEMENT_ROOTS = ("SelectWithUnionQuery",)
AUDIT_TEXT_LIMIT = 4096  # characters of the statement kept in the audit (with its hash and length)
IDENTITY_NUMBER = re.compile(r"\d{17}[\dXx]")


class SqlRefused(ValueError):
    """The statement is not one operators may run; the message says which part and why."""


def one_statement(text: str) -> str:
    """The single statement in ``text`` (a trailing ``;`` dropped); SqlRefused when there is more."""
    end = _statement_end(text)
    if end is None:
        return text.strip()
    rest = text[end + 1:]
    if _has_code(rest):
        raise SqlRefused(f"query: one statement only; found more after the ';' at character {end + 1}")
    return text[:end].strip()


def _statement_end(text: str) -> int | None:
    """Index of the first ';' outside strings, quoted identifiers and comments, or None."""
    i, n = 0, len(text)
    while i < n:
        after_comment = _after_comment(text, i)
        if after_comment is not None:
            i = after_comment
        elif text[i] in "'\"`":
            i = _skip_quoted(text, i)
        elif text[i] == ";":
            return i
        else:
            i += 1
    return None


def _after_comment(text: str, i: int) -> int | None:
    """Where the comment starting at ``i`` ends, or None when none starts there. A ``/*`` comment
    ends at the first ``*/``, not nested: if ClickHouse nests them, we see more code than it does
    (the safe side)."""
    if text.startswith("--", i):
        newline = text.find("\n", i)
        return len(text) if newline < 0 else newline + 1
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        if close < 0:
            raise SqlRefused("query: a /* comment is never closed")
        return close + 2
    return None


def _skip_quoted(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            if text.startswith(quote * 2, i):  # '' inside '…'
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise SqlRefused(f"query: a {quote} quote opened at character {start} is never closed")


def _has_code(text: str) -> bool:
    """Anything but whitespace and comments (an unclosed comment counts as code)."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        try:
            after_comment = _after_comment(text, i)
        except SqlRefused:
            return True
        if after_comment is None:
            return True
        i = after_comment
    return False


def ast_problem(ast_lines: list[str], table_functions: frozenset[str]) -> str | None:
    """Why the statement whose ``EXPLAIN AST`` lines these are may not run, or None."""
    root = ast_lines[0].split()[0] if ast_lines else ""
    if root not in STATEMENT_ROOTS:
        return f"query: only SELECT statements may run (this is {root or 'empty'})"
    parents: list[tuple[int, str]] = []  # (depth, node) of the lines above
    for line in ast_lines:
        depth = len(line) - len(line.lstrip(" "))
        node, _, rest = line.strip().partition(" ")
        name = rest.split(" (", 1)[0].strip()
        while parents and parents[-1][0] >= depth:
            parents.pop()
        parent = parents[-1][1] if parents else ""
        problem = _node_problem(node, name, parent, depth, table_functions)
        if problem:
            return problem
        parents.append((depth, node))
    return None


def _node_problem(node: str, name: str, parent: str, depth: int, table_functions: frozenset[str]) -> str | None:
    if depth == 1 and node == "Literal":  # the root's own literal: INTO OUTFILE '<path>'
        return "query: INTO OUTFILE is not allowed"
    if depth == 1 and node == "Identifier" and name != "Native":  # FORMAT <name>: ours is Native
        return f"query: FORMAT {name} is not allowed; results come back as JSON"
    if node == "Function":
        lowered = name.lower()
        if parent == "TableExpression" and lowered not in ALLOWED_TABLE_FUNCTIONS:
            return f"query: table function {name}() is not allowed (allowed: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))})"
        if lowered.startswith("dictget") or lowered in REFUSED_FUNCTIONS or (
                lowered in table_functions and lowered not in ALLOWED_TABLE_FUNCTIONS):
            return f"query: function {name}() is not allowed"
    if node in ("TableIdentifier", "Identifier") and "." in name:
        database, table = name.split(".", 1)
        if database.lower() in ("system", "information_schema") and not (
                database.lower() == "system" and table.lower() in ALLOWED_SYSTEM_TABLES):
            return (f"query: table {name} is not allowed; of the system tables only "
                    f"{', '.join('system.' + t for t in sorted(ALLOWED_SYSTEM_TABLES))}")
    return None


def audit_text(query: str) -> str:
    """What the audit keeps of a statement: its hash and length, and its first 4,096 characters
    with 18-character identity numbers masked (the text is kept for operators to see what ran)."""
    digest = hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()
    shown = query if len(query) <= AUDIT_TEXT_LIMIT else query[:AUDIT_TEXT_LIMIT] + "…"
    shown = IDENTITY_NUMBER.sub(lambda m: m.group()[:4] + "*" * 10 + m.group()[-4:], shown)
    return f"sha256={digest} length={len(query)}: {shown}"


_table_functions: list[frozenset[str]] = []  # read once: one ClickHouse per process


def table_function_names(client) -> frozenset[str]:
    """Every table function this ClickHouse knows (each is refused unless allowed)."""
    if not _table_functions:
        rows = client.query("SELECT lower(name) FROM system.table_functions").result_rows
        _table_functions.append(frozenset(r[0] for r in rows))
    return _table_functions[0]


def run_operator_query(client, text: str) -> tuple[list[str], list[list]]:
    """Check and run an operator's statement on a read-only session client (``SESSION_LIMITS``):
    its columns and at most ``MAX_RESULT_ROWS`` rows (ClickHouse stops at the block that passes the
    cap; the rest of that block is dropped here). SqlRefused for a statement that may not run;
    ClickHouse's own errors pass through."""
    statement = one_statement(text)
    if not statement:
        raise SqlRefused('query: empty; send {"query": "SELECT ..."}')
    ast = [row[0] for row in client.query("EXPLAIN AST " + statement).result_rows]
    problem = ast_problem(ast, table_function_names(client))
    if problem:
        raise SqlRefused(problem)
    result = client.query(statement)
    return list(result.column_names), [[json_value(v) for v in row] for row in result.result_rows[:MAX_RESULT_ROWS]]
