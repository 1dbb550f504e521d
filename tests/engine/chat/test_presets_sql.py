"""The "SQL from questions" preset on a generated SQLite file: schema into the prompt, SQL out of
a reply, read-only single-SELECT execution (row cap, time limit), refusals, and bad files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from engine.chat.presets import sql
from engine.chat.presets.sql import SqlRefused
from engine.core.errors import UserError


@pytest.fixture
def shop(tmp_path) -> Path:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                             total REAL, note BLOB);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 20;
        INSERT INTO customers VALUES (1, 'Ada', 'London'), (2, 'Grace', 'New York'),
                                     (3, 'Linus', 'Helsinki');
        INSERT INTO orders VALUES (1, 1, 12.5, x'00ff'), (2, 1, 30, NULL), (3, 2, 7.25, NULL),
                                  (4, 3, 99.9, NULL);
        """
    )
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_schema_lists_tables_columns_types_and_samples(shop):
    schema = sql.read_schema(shop, sample_rows=2)
    tables = {t["name"]: t for t in schema["tables"]}
    assert set(tables) == {"customers", "orders", "big_orders"}
    assert [(c["name"], c["type"]) for c in tables["customers"]["columns"]] == [
        ("id", "INTEGER"),
        ("name", "TEXT"),
        ("city", "TEXT"),
    ]
    assert tables["customers"]["rows"] == [[1, "Ada", "London"], [2, "Grace", "New York"]]
    assert tables["orders"]["row_count"] == 4 and tables["orders"]["rows"][0][3] == "<blob 2 bytes>"
    text = sql.schema_text(schema)
    assert "CREATE TABLE customers (id INTEGER PRIMARY KEY" in text
    assert "-- (1, 'Ada', 'London')" in text and "-- 3 rows in all" in text


def test_runs_a_select_with_a_row_cap(shop):
    result = sql.run_select(
        shop,
        "SELECT c.name, count(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id "
        "GROUP BY c.name ORDER BY n DESC, c.name",
    )
    assert result["columns"] == ["name", "n"]
    assert result["rows"] == [["Ada", 2], ["Grace", 1], ["Linus", 1]]
    assert not result["truncated"]
    capped = sql.run_select(shop, "SELECT * FROM orders ORDER BY id;", max_rows=2)
    assert capped["row_count"] == 2 and capped["truncated"]
    cte = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n"
    assert [r[0] for r in sql.run_select(shop, cte)["rows"]] == [1, 2, 3, 4, 5]


def test_a_query_past_the_time_limit_is_stopped(shop):
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    with pytest.raises(UserError, match=r"longer than 0\.2 s"):
        sql.run_select(shop, endless, timeout_s=0.2)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM orders",
        "UPDATE customers SET name = 'x'",
        "INSERT INTO customers (name) VALUES ('Eve')",
        "DROP TABLE orders",
        "CREATE TABLE t (x)",
        "SELECT 1; DROP TABLE orders;",
        "PRAGMA writable_schema = 1",
        "ATTACH DATABASE 'other.db' AS other",
        "WITH x AS (SELECT 1) DELETE FROM orders",
        "VACUUM",
        "BEGIN; DELETE FROM orders; COMMIT;",
        "SELECT load_extension('evil')",
    ],
)
def test_anything_but_a_single_select_is_refused(shop, statement):
    before = digest(shop)
    with pytest.raises(UserError):
        sql.run_select(shop, statement)
    assert digest(shop) == before
    assert sql.run_select(shop, "SELECT count(*) FROM orders")["rows"] == [[4]]


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM orders", "WITH x AS (SELECT 1) DELETE FROM orders", "PRAGMA user_version = 7"],
)
def test_the_authorizer_refuses_on_its_own(shop, monkeypatch, statement):
    # Take away the textual check: SQLite's authorizer (and the read-only open) still refuse.
    monkeypatch.setattr(sql, "check_select", lambda s: s)
    before = digest(shop)
    with pytest.raises(SqlRefused, match=r"more than read|Only SELECT"):
        sql.run_select(shop, statement)
    assert digest(shop) == before


def test_sql_is_pulled_out_of_a_reply():
    reply = "Sure!\n```sql\nSELECT name FROM customers WHERE city = 'a;b';\n```\nDone."
    assert sql.extract_sql(reply) == "SELECT name FROM customers WHERE city = 'a;b';"
    assert sql.extract_sql("The answer is SELECT 1 + 1\n\nThat adds.") == "SELECT 1 + 1;"
    with pytest.raises(SqlRefused, match="2 SQL statements"):
        sql.extract_sql("```sql\nSELECT 1;\nDELETE FROM orders;\n```")
    with pytest.raises(SqlRefused, match="no SELECT"):
        sql.extract_sql("I do not know.")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello, I am not SQLite")
    with pytest.raises(UserError, match=r"notes\.db is not a SQLite database"):
        sql.read_schema(text)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match=r"empty\.db is empty"):
        sql.run_select(empty, "SELECT 1")
    with pytest.raises(UserError, match="There is no file"):
        sql.read_schema(tmp_path / "missing.db")


def test_the_preset_in_a_conversation(client, services, shop):

    conv = client.call("chat.create", {"title": "shop"})
    applied = client.call(
        "chat.presets.apply",
        {
            "conversation_id": conv["id"],
            "preset_id": "builtin-sql",
            "options": {"database": str(shop)},
        },
    )
    prompt = applied["conversation"]["system_prompt"]
    assert "CREATE TABLE orders" in prompt and "{schema}" not in prompt
    assert applied["binding"]["options"]["database"] == str(shop.resolve())
    assert applied["conversation"]["params"]["temperature"] == 0.1

    store = services.chats  # a stored exchange, as chat.send would leave it
    user = store.add_message(conv["id"], parent_id=None, role="user", content="Orders per city?")
    reply = store.add_message(
        conv["id"],
        parent_id=user["id"],
        role="assistant",
        content="```sql\nSELECT city, count(*) AS n FROM orders JOIN customers ON "
        "customers.id = customer_id GROUP BY city ORDER BY city;\n```",
        metadata={"model_id": "m"},
    )
    out = client.call("chat.presets.process", {"message_id": reply["id"]})
    outcome = out["outcome"]
    assert outcome["columns"] == ["city", "n"]
    assert outcome["rows"] == [["Helsinki", 1], ["London", 2], ["New York", 1]]
    assert out["message"]["metadata"]["preset"]["rows"] == outcome["rows"]

    bad = store.add_message(
        conv["id"], parent_id=user["id"], role="assistant", content="DROP TABLE orders;"
    )
    refused = client.call("chat.presets.process", {"message_id": bad["id"]})["outcome"]
    assert refused["refused"] and "SELECT" in refused["error"]

    error = client.error(
        "chat.presets.apply",
        {
            "conversation_id": conv["id"],
            "preset_id": "builtin-sql",
            "options": {"database": __file__},
        },
    )
    assert error["code"] == -32001 and "not a SQLite database" in error["message"]
