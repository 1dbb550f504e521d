"""The "SQL from questions" preset's database side: read a SQLite file's schema into the prompt,
pull the SQL out of a model's reply, and run it read-only with a row cap and a time limit.

Only a single SELECT ever runs, and SQLite itself enforces it, in layers:

1. **One statement.** ``extract_sql`` cuts statements with ``sqlite3.complete_statement`` (SQLite's
   own tokenizer, so a ``;`` inside a string or comment does not count) and refuses a reply holding
   more than one; ``Cursor.execute`` refuses a trailing second statement again.
2. **A read-only connection.** The file is opened with a ``file:...?mode=ro`` URI: the VFS layer
   refuses every write to the file, whatever the statement is; ``PRAGMA query_only`` says the same
   one level up.
3. **An authorizer.** While SQLite compiles the statement it asks the authorizer about every action
   the statement would take -- each table and column read, each insert, update, delete, schema
   change, PRAGMA, ATTACH, transaction, function call. Ours answers ``SQLITE_OK`` only for
   ``SELECT``, ``READ``, ``FUNCTION`` (minus ``load_extension`` and the like) and ``RECURSIVE``
   (a recursive CTE is still a read), and ``SQLITE_DENY`` for everything else, so a statement that
   would do anything but read cannot even be prepared; we also require that it was a SELECT.

   This is sufficient because SQLite cannot execute anything it did not compile, and it consults
   the authorizer for every operation during compilation (including those hidden in views, triggers
   and CTEs, which are expanded at that point). Layer 2 is the backstop: even an action the
   authorizer would let through cannot change the file.
4. **Limits.** A progress handler interrupts a query that runs past ``timeout_s``; at most
   ``max_rows`` rows are fetched; ``SQLITE_LIMIT_LENGTH`` caps the size of any one value; long
   cells are cut for display. Extensions stay disabled (Python's default).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine.core.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_CELL_CHARS = 500
MAX_VALUE_BYTES = 10_000_000
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"}
_FENCE = re.compile(
    r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n`]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M
)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)


class SqlRefused(UserError):
    """The model's SQL is not a single read-only SELECT; the message says why."""


# ---- the file -----------------------------------------------------------------------------------
def check_database(path: str | Path) -> Path:
    """``path`` as an absolute Path if it is a SQLite database file, else a ``UserError``."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise UserError("Choose a SQLite database file for the SQL preset.")
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"There is no file at {p}; choose the SQLite database again.")
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise UserError(
            f"Cannot read {p} ({exc.strerror or exc}); check its permissions."
        ) from None
    if head != SQLITE_MAGIC:
        what = "is empty" if not head else "is not a SQLite database"
        raise UserError(
            f"{p.name} {what} (SQLite files start with 'SQLite format 3'); choose a .sqlite or "
            ".db file made by SQLite."
        )
    return p.resolve()


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the database at ``path`` (see the module docstring)."""
    p = check_database(path)
    uri = p.as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=2.0, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # proves it is readable
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"{p.name} cannot be read as a SQLite database ({exc}); it may be damaged or "
            "encrypted. Choose another file."
        ) from None
    if hasattr(conn, "setlimit"):  # Python 3.11+
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    return conn


# ---- schema for the prompt ----------------------------------------------------------------------
def read_schema(path: str | Path, *, sample_rows: int = 3, max_tables: int = 40) -> dict[str, Any]:
    """Tables and views with their columns, types and a few sample rows.

    ``{path, tables: [{name, type, sql, columns: [{name, type, pk, notnull}], rows: [[...]],
    row_count}]}``; ``row_count`` is null for a view or when counting would take long.
    """
    conn = connect_readonly(path)
    try:
        objects = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        tables = []
        for name, kind, sql in objects[:max_tables]:
            quoted = quote_identifier(name)
            columns = [
                {"name": c[1], "type": c[2] or "", "notnull": bool(c[3]), "pk": bool(c[5])}
                for c in conn.execute(f"PRAGMA table_info({quoted})").fetchall()
            ]
            rows: list[list[Any]] = []
            count = None
            try:
                _with_deadline(conn, 1.0)
                rows = [
                    [_cell(v) for v in r]
                    for r in conn.execute(f"SELECT * FROM {quoted} LIMIT {int(sample_rows)}")
                ]
                if kind == "table":
                    count = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            except sqlite3.DatabaseError:
                pass  # a view over a missing table, or a slow count: the schema is still useful
            finally:
                conn.set_progress_handler(None, 0)
            tables.append(
                {
                    "name": name,
                    "type": kind,
                    "sql": sql or "",
                    "columns": columns,
                    "rows": rows,
                    "row_count": count,
                }
            )
    finally:
        conn.close()
    return {"path": str(check_database(path)), "tables": tables}


def schema_text(schema: dict[str, Any], *, max_chars: int = 6000) -> str:
    """The schema as the prompt shows it: CREATE statements, each with sample rows as comments."""
    parts = []
    for table in schema["tables"]:
        create = table["sql"].strip() or _create_from_columns(table)
        lines = [create.rstrip(";") + ";"]
        if table["rows"]:
            names = ", ".join(c["name"] for c in table["columns"])
            lines.append(f"-- sample rows ({names}):")
            lines += [f"-- {tuple(row)!r}" for row in table["rows"]]
        if table["row_count"] is not None:
            lines.append(f"-- {table['row_count']} rows in all")
        parts.append("\n".join(lines))
    text = "\n\n".join(parts) or "-- (the database has no tables)"
    if len(text) > max_chars:
        text = text[:max_chars].rsplit("\n", 1)[0] + "\n-- (schema cut short)"
    return text


def _create_from_columns(table: dict[str, Any]) -> str:
    cols = ", ".join(f"{c['name']} {c['type']}".strip() for c in table["columns"])
    return f"CREATE {table['type'].upper()} {table['name']} ({cols})"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---- SQL out of a reply -------------------------------------------------------------------------
def split_statements(text: str) -> list[str]:
    """The complete statements in ``text`` (SQLite's tokenizer decides where one ends), plus any
    unterminated remainder that is not just whitespace or comments."""
    out: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == ";" and sqlite3.complete_statement(text[start : i + 1]):
            stmt = text[start : i + 1].strip()
            if _has_code(stmt):
                out.append(stmt)
            start = i + 1
    rest = text[start:].strip()
    if _has_code(rest):
        out.append(rest)
    return out


def _has_code(sql: str) -> bool:
    """Whether ``sql`` holds more than whitespace, comments and semicolons."""
    body = re.sub(r"--[^\n]*|/\*.*?(\*/|\Z)", " ", sql, flags=re.S)
    return bool(body.replace(";", " ").strip())


def looks_like_sql(statement: str) -> bool:
    """Whether SQLite parses ``statement`` (compiled with EXPLAIN on an empty in-memory database,
    never run): a missing table is fine, a syntax error means it is prose."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("EXPLAIN " + statement.strip().rstrip(";"))
        return True
    except (sqlite3.ProgrammingError, sqlite3.Warning):
        return True  # parsed, but more than one statement
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        return not any(
            m in text for m in ("near ", "syntax error", "incomplete input", "unrecognized")
        )
    finally:
        probe.close()


def extract_sql(reply: str) -> str:
    """The one SQL statement in a model's reply, or ``SqlRefused`` saying why there is none.

    Looks in fenced blocks first (```sql ones before others), else in the text from each SELECT or
    WITH on; a candidate counts when SQLite can parse it (``looks_like_sql``), so English like
    "select the best" or "with its total" is passed over. More than one statement is refused.
    """
    if not isinstance(reply, str) or not reply.strip():
        raise SqlRefused("The reply is empty; there is no SQL to run.")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(reply)]
    tagged = [b for lang, b in blocks if lang in ("sql", "sqlite")]
    for body in tagged + [b for lang, b in blocks if lang not in ("sql", "sqlite")]:
        statements = split_statements(body)
        if statements and looks_like_sql(statements[0]):
            return _single(statements)
    if tagged and split_statements(tagged[0]):
        return _single(split_statements(tagged[0]))  # SQL by its label: run it, say what fails
    for match in _START.finditer(reply):
        paragraph = re.split(r"\n\s*\n", reply[match.start() :], maxsplit=1)[0]
        statements = split_statements(paragraph)
        if statements and looks_like_sql(statements[0]):
            return _single([s for s in statements if looks_like_sql(s)])
    raise SqlRefused("The reply has no SELECT statement; ask the question another way.")


def _single(statements: list[str]) -> str:
    if len(statements) > 1:
        raise SqlRefused(
            f"The reply holds {len(statements)} SQL statements; only a single SELECT is run."
        )
    return statements[0].rstrip().rstrip(";").strip() + ";"


def check_select(sql: str) -> str:
    """``sql`` if it is one complete SELECT (or WITH ... SELECT), else ``SqlRefused``."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlRefused("There is no SQL to run.")
    statements = split_statements(sql)
    if len(statements) != 1:
        raise SqlRefused(f"Only a single SELECT is run; this holds {len(statements)} statements.")
    stmt = statements[0].rstrip(";").strip() + ";"
    if not sqlite3.complete_statement(stmt):
        raise SqlRefused("The SQL statement is incomplete (an open quote or bracket?).")
    body = re.sub(r"^(\s|--[^\n]*\n|/\*.*?\*/)+", "", stmt, flags=re.S)
    first = body.split(None, 1)[0].upper() if body.split() else ""
    if first not in ("SELECT", "WITH", "VALUES"):
        raise SqlRefused(f"Only SELECT queries are run; this statement starts with {first!r}.")
    return stmt


# ---- running it ---------------------------------------------------------------------------------
def _with_deadline(conn: sqlite3.Connection, timeout_s: float) -> dict[str, bool]:
    deadline = time.monotonic() + timeout_s
    state = {"timed_out": False}

    def progress() -> int:
        if time.monotonic() > deadline:
            state["timed_out"] = True
            return 1  # non-zero interrupts the statement
        return 0

    conn.set_progress_handler(progress, 1000)  # every 1000 virtual-machine instructions
    return state


def run_select(
    path: str | Path, sql: str, *, max_rows: int = 200, timeout_s: float = 5.0
) -> dict[str, Any]:
    """Run one SELECT read-only. ``{sql, columns, rows, row_count, truncated, elapsed_ms}``;
    ``SqlRefused`` for anything but a single SELECT, ``UserError`` for SQL errors and timeouts."""
    stmt = check_select(sql)
    max_rows = max(1, min(int(max_rows), 10_000))
    conn = connect_readonly(path)
    seen: set[int] = set()

    def authorize(action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
        seen.add(action)
        if action not in _ALLOWED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and str(arg2 or "").lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    started = time.perf_counter()
    try:
        conn.set_authorizer(authorize)
        deadline = _with_deadline(conn, timeout_s)
        try:
            cursor = conn.execute(stmt)
            if sqlite3.SQLITE_SELECT not in seen or cursor.description is None:
                raise SqlRefused("Only SELECT queries are run.")
            rows = cursor.fetchmany(max_rows + 1)
        except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:  # e.g. "one statement at a time"
            raise SqlRefused(f"The SQL was refused: {exc}") from None
        except sqlite3.DatabaseError as exc:
            if deadline["timed_out"]:
                raise UserError(
                    f"The query ran longer than {timeout_s:g} s and was stopped; ask for less "
                    "(add a WHERE or LIMIT)."
                ) from None
            if "not authorized" in str(exc) or "prohibited" in str(exc):
                raise SqlRefused(
                    "The SQL tries to do more than read (only a single SELECT is run)."
                ) from None
            raise UserError(f"The SQL failed: {exc}.") from None
        columns = [d[0] for d in cursor.description]
    finally:
        conn.close()
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    return {
        "sql": stmt,
        "columns": columns,
        "rows": [[_cell(v) for v in row] for row in rows],
        "row_count": len(rows),
        "truncated": truncated,
        "max_rows": max_rows,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _cell(value: Any) -> Any:
    """A JSON-safe, display-sized value."""
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return value[: MAX_CELL_CHARS - 1] + "…"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value
