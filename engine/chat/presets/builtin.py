"""The presets Hearth ships: "SQL from questions", "Moderated reply" and "Guarded assistant".

Their system prompts hold placeholders filled when a preset is applied: ``{schema}`` (the SQLite
file's tables, columns and sample rows) and ``{canary}`` (the guard's secret token).
"""

from __future__ import annotations

from typing import Any

from engine.chat.presets.guard import GUARDED_PROMPT
from engine.chat.presets.moderation import DEFAULT_POLICY

SQL_PROMPT = """You turn questions about a SQLite database into SQL.
Answer with exactly one SQLite SELECT statement that answers the question, in a ```sql code block, and nothing else. Use only the tables and columns below. Never write INSERT, UPDATE, DELETE, CREATE, DROP or PRAGMA: the database is read-only.

Example:
Question: How many rows does the table items have?
```sql
SELECT count(*) FROM items;
```

Database schema:
{schema}"""

NO_DATABASE = "-- (no database chosen yet: pick a SQLite file for this conversation)"

MODERATED_PROMPT = "You are a helpful assistant. Answer clearly and politely."

BUILTINS: tuple[dict[str, Any], ...] = (
    {
        "id": "builtin-sql",
        "name": "SQL from questions",
        "kind": "sql",
        "description": "Ask questions about a SQLite file: the model writes one SELECT, Hearth "
        "runs it read-only and shows the result table. Anything else is refused.",
        "system_prompt": SQL_PROMPT,
        "params": {"temperature": 0.1, "max_tokens": 256},
        "options": {},
    },
    {
        "id": "builtin-moderated",
        "name": "Moderated reply",
        "kind": "moderated",
        "description": "A second pass reviews every draft reply against your policy and passes "
        "it, rewrites it or blocks it with a reason.",
        "system_prompt": MODERATED_PROMPT,
        "params": {},
        "options": {"policy": DEFAULT_POLICY},
    },
    {
        "id": "builtin-guarded",
        "name": "Guarded assistant",
        "kind": "guarded",
        "description": "A system prompt hardened against prompt injection (instruction "
        "hierarchy, untrusted content in delimiters, a canary token), with a test set of "
        "injection attempts you can run.",
        "system_prompt": GUARDED_PROMPT,
        "params": {"temperature": 0.3},
        "options": {},
    },
)
BUILTIN_IDS = tuple(p["id"] for p in BUILTINS)
