"""Chat presets: a saved system prompt + generation settings + options, and the three that ship.

- ``options``: preset kinds (plain, sql, moderated, guarded) and each kind's options
- ``builtin``: "SQL from questions", "Moderated reply", "Guarded assistant"
- ``store``: presets and per-conversation bindings in ``hearth.db``
- ``runner``: apply a preset to a conversation; its step after a reply; one-shot use (CLI)
- ``sql``: SQLite schema for the prompt, SQL extraction, read-only single-SELECT execution
- ``moderation``: the reviewer pass (pass / rewrite / block) in JSON mode
- ``guard`` / ``injections``: the hardened prompt, canary checks, the injection test set and runner
- ``methods``: the ``chat.presets.*`` JSON-RPC methods
"""
