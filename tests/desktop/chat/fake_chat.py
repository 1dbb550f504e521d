"""An in-memory ``chat.*`` for the fake engine (tests/desktop/fake_engine.py), shaped like
docs/PROTOCOL.md: conversations with a message tree, streamed replies that honour ``$/cancel``,
siblings from regenerate/edit, branch switching, token counts, templates, export, loaded models.

State is mirrored to ``$HEARTH_HOME/fake_chat.json`` (the partial reply too, while it streams),
so a fake engine that died mid-reply comes back with that reply marked ``interrupted``, as the
real engine does.

The user's text steers a reply: ``many`` streams 400 tiny deltas, ``slow`` one delta every 60 ms,
``die`` three deltas then the process exits, ``too long`` answers the context error; the model
``gone-2`` answers the missing-file error; a ``json_schema`` whose ``type`` is unknown answers the
schema error. A conversation with document ``collections`` (the fake ``docs.*`` ones) answers from
them: the reply of tests/desktop/documents/fake_docs_core.py ``answer``, with ``metadata.citations``
and ``metadata.retrieval`` stored.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tests.desktop.engine_answers import real_answer

REPLY = (
    "Hello! Here is **some** code:\n\n```python\nprint('hi')\n```\n\nAnd a list:\n\n- one\n- two\n"
)
CONTEXT = 4096
TEMPLATES = ["auto", "model", "chatml", "llama3", "gemma", "mistral", "alpaca", "plain"]
LOADED = {
    "model_id": "gemma-1",
    "name": "Fake Gemma",
    "runtime": "llama_cpp",
    "device": "cpu",
    "memory_bytes": 300_000_000,
    "context_length": CONTEXT,
    "loaded_at": 0,
    "busy": False,
    "last_used": 0,
}


class UserError(Exception):
    code = -32001


class Store:
    def __init__(self) -> None:
        home = os.environ.get("HEARTH_HOME")
        self.path = Path(home) / "fake_chat.json" if home else None
        self.convs: dict[str, dict] = {}
        self.msgs: dict[str, dict] = {}
        self.template = "auto"
        self.loaded: list[dict] = []
        self.model_settings: dict[str, dict] = {}  # per model, as chat.set_model_settings saves
        if self.path and self.path.exists():
            data = json.loads(self.path.read_text())
            self.convs, self.msgs = data["convs"], data["msgs"]
            for m in self.msgs.values():
                if m["state"] == "streaming":
                    m.update(state="interrupted", partial=True, interrupted=True)

    def save(self) -> None:
        if self.path:
            self.path.write_text(json.dumps({"convs": self.convs, "msgs": self.msgs}))

    def conv(self, cid: str) -> dict:
        if cid not in self.convs:
            raise UserError(f"No conversation with id {cid!r}.")
        return self.convs[cid]

    def add(self, cid: str, parent: str | None, role: str, content: str, state: str) -> dict:
        now = time.time()
        msg = {
            "id": "m-" + uuid.uuid4().hex[:8],
            "conversation_id": cid,
            "parent_id": parent,
            "role": role,
            "content": content,
            "state": state,
            "partial": state != "complete",
            "interrupted": False,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "seq": len(self.msgs),
        }
        self.msgs[msg["id"]] = msg
        conv = self.convs[cid]
        conv.update(current_leaf_id=msg["id"], updated_at=now)
        return msg

    def children(self, parent: str | None, cid: str) -> list[str]:
        kids = [
            m
            for m in self.msgs.values()
            if m["parent_id"] == parent and m["conversation_id"] == cid
        ]
        return [m["id"] for m in sorted(kids, key=lambda m: m["seq"])]

    def branch(self, leaf: str | None) -> list[dict]:
        out = []
        while leaf:
            out.append(self.msgs[leaf])
            leaf = self.msgs[leaf]["parent_id"]
        return out[::-1]

    def thread(self, cid: str) -> dict:
        conv = self.conv(cid)
        messages = []
        for m in self.branch(conv["current_leaf_id"]):
            siblings = self.children(m["parent_id"], cid)
            messages.append({**m, "siblings": siblings, "sibling_index": siblings.index(m["id"])})
        return {"conversation": conv_out(conv), "messages": messages}

    def listing(self) -> list[dict]:
        convs = sorted(self.convs.values(), key=lambda c: (not c["pinned"], -c["updated_at"]))
        return [
            {
                **conv_out(c),
                "message_count": sum(m["conversation_id"] == c["id"] for m in self.msgs.values()),
            }
            for c in convs
        ]


store: Store = None  # type: ignore[assignment]  # made by the first request, in the fake engine
state_lock = threading.RLock()


def check_params(params: dict | None, model: str | None) -> None:
    if model == "gone-2":
        raise UserError(
            "The model file of Moved Model is missing (/nowhere); import it again from its new "
            "place (Models > Import), or remove it."
        )
    schema = (params or {}).get("json_schema")
    if schema is not None:
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError as exc:
                raise UserError(f"The JSON Schema is not valid JSON ({exc}); fix it.") from None
        kind = schema.get("type") if isinstance(schema, dict) else None
        if kind not in (None, "object", "array", "string", "number", "integer", "boolean", "null"):
            raise UserError(f"Invalid JSON Schema at #: unknown type {kind!r}. Fix the schema.")


def count(messages: list[dict], params: dict | None) -> dict:
    used = sum(len(m["content"].split()) + 4 for m in messages)
    reserved = min(int((params or {}).get("max_tokens") or 512), CONTEXT // 2)
    budget = CONTEXT - reserved
    dropped, dropped_tokens, kept = 0, 0, used
    for m in messages[:-1]:
        if kept <= budget:
            break
        if m["role"] != "system":
            dropped += 1
            dropped_tokens += len(m["content"].split()) + 4
            kept -= len(m["content"].split()) + 4
    return {
        "model_id": "gemma-1",
        "template": "plain",
        "used": kept,
        "available": CONTEXT,
        "reserved": reserved,
        "fits": kept <= budget,
        "truncated": {
            "dropped_messages": dropped,
            "dropped_indexes": list(range(dropped)),
            "dropped_tokens": dropped_tokens,
            "prompt_tokens": kept,
            "context_length": CONTEXT,
            "reserved_tokens": reserved,
        },
    }


def collection_ids(refs: Any) -> list[str]:
    """Ids of the fake document collections ``refs`` names; an unknown one answers -32001."""
    from documents import fake_docs_core  # tests/desktop/documents/, beside this folder

    ids: list[str] = []
    for ref in refs or []:
        try:
            cid = fake_docs_core.collection(ref)["id"]
        except fake_docs_core.NotFound:
            raise UserError(f"There is no document collection {ref!r}.") from None
        if cid not in ids:
            ids.append(cid)
    return ids


def attached(conv: dict) -> list[str]:
    """The conversation's collections that still exist."""
    from documents import fake_docs_core

    return [c for c in conv.get("collections") or [] if c in fake_docs_core.collections]


def conv_out(conv: dict) -> dict:
    return {**conv, "collections": attached(conv)}


def history(conv: dict, leaf: str | None) -> list[dict]:
    out = [{"role": "system", "content": conv["system_prompt"]}] if conv["system_prompt"] else []
    return out + [{"role": m["role"], "content": m["content"]} for m in store.branch(leaf)]


def pieces(prompt: str, regen: int) -> tuple[list[str], float]:
    if "many" in prompt:
        return ["x "] * 400, 0.001
    text = REPLY if regen == 0 else f"Alternative reply number {regen + 1}."
    words = [w + " " for w in text.split(" ")]
    return words, (0.06 if "slow" in prompt else 0.005)


def stream(rid, cid: str, parent: str, send, cancelled: set, extra: dict) -> None:
    """Reply under ``parent``: deltas, then the ChatResult (or -32800 with the partial one)."""
    grounded = None
    with state_lock:
        prompt = store.msgs[parent]["content"]
        regen = len(store.children(parent, cid))
        collections = attached(store.convs[cid])
        msg = store.add(cid, parent, "assistant", "", "streaming")
        store.save()
    if collections:
        from documents import fake_docs_core

        grounded = fake_docs_core.answer(collections, prompt)
    if not store.loaded:
        store.loaded = [dict(LOADED, loaded_at=time.time())]
        send(
            {"jsonrpc": "2.0", "method": "chat.loaded_changed", "params": {"loaded": store.loaded}}
        )
    if "too long" in prompt:
        with state_lock:
            msg.update(state="error", metadata={"error": "too long"})
            store.save()
        error = (
            "The message is too long: 5,000 tokens but the context window holds 4,096; shorten it."
        )
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32001, "message": error}})
        return
    parts, delay = pieces(prompt, regen)
    if grounded is not None:
        parts = [w + " " for w in grounded["text"].split(" ")]
        parts[-1] = parts[-1].rstrip()
    start = time.monotonic()
    text = ""
    for i, part in enumerate(parts):
        if rid in cancelled:
            break
        if "die" in prompt and i == 3:
            os._exit(3)
        text += part
        with state_lock:
            msg["content"] = text
            if "die" in prompt:
                store.save()
        send(
            {
                "jsonrpc": "2.0",
                "method": "chat.delta",
                "params": {
                    "id": rid,
                    "text": part,
                    "conversation_id": cid,
                    "message_id": msg["id"],
                },
            }
        )
        time.sleep(delay)
    stopped = rid in cancelled
    result = {
        "text": text,
        "finish_reason": "cancelled" if stopped else "stop",
        "model_id": "gemma-1",
        "runtime": "llama_cpp",
        "device": "cpu",
        "template": "plain",
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": len(parts),
            "total_tokens": 9 + len(parts),
        },
        "timings": {
            "ttft_ms": 12.5,
            "tokens_per_s": 42.0,
            "load_ms": 0.0,
            "total_ms": round((time.monotonic() - start) * 1000, 1),
        },
        "truncated": count([], {})["truncated"],
    }
    with state_lock:
        msg.update(
            content=text,
            state="cancelled" if stopped else "complete",
            partial=stopped,
            metadata={
                k: result[k]
                for k in (
                    "model_id",
                    "runtime",
                    "device",
                    "template",
                    "usage",
                    "timings",
                    "finish_reason",
                )
            },
        )
        if grounded is not None:
            msg["metadata"].update(citations=grounded["citations"], retrieval=grounded["retrieval"])
        store.save()
        out = {**result, "conversation_id": cid, "message": dict(msg), **extra}
    if stopped:
        send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "error": {"code": -32800, "message": "Request cancelled.", "data": out},
            }
        )
    else:
        send({"jsonrpc": "2.0", "id": rid, "result": out})


def start_reply(rid, send, cancelled, cid: str, parent: str, extra: dict) -> None:
    threading.Thread(
        target=stream, args=(rid, cid, parent, send, cancelled, extra), daemon=True
    ).start()


def handle(method: str, rid, p: dict, send, cancelled: set) -> None:
    """Answer one ``chat.*`` request (generating ones answer from a thread)."""
    global store
    if store is None:
        store = Store()
    try:
        with state_lock:
            result = _dispatch(method, rid, p, send, cancelled)
    except UserError as exc:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32001, "message": str(exc)}})
        return
    if result is not None:
        send({"jsonrpc": "2.0", "id": rid, "result": result})


def _dispatch(method: str, rid, p: dict, send, cancelled: set) -> Any:
    if method == "chat.create":
        check_params(p.get("params"), None)  # a missing model fails when it is used, not here
        now = time.time()
        cid = "c-" + uuid.uuid4().hex[:8]
        store.convs[cid] = {
            "id": cid,
            "title": p.get("title") or "New chat",
            "model_id": p.get("model_id"),
            "system_prompt": p.get("system_prompt") or "",
            "params": p.get("params") or {},
            "collections": collection_ids(p.get("collections")),
            "pinned": False,
            "current_leaf_id": None,
            "created_at": now,
            "updated_at": now,
        }
        store.save()
        return conv_out(store.convs[cid])
    if method == "chat.list":
        return {"conversations": store.listing()}
    if method == "chat.get":
        return store.thread(p["id"])
    if method in ("chat.update", "chat.rename", "chat.pin"):
        conv = store.conv(p["id"])
        if "params" in p:
            check_params(p["params"], None)
        if p.get("collections") is not None:
            conv["collections"] = collection_ids(p["collections"])
        for key in ("title", "model_id", "system_prompt", "params"):
            if p.get(key) is not None:
                conv[key] = p[key]
        if method == "chat.pin":
            conv["pinned"] = bool(p.get("pinned", True))
        store.save()
        return conv_out(conv)
    if method == "chat.delete":
        store.conv(p["id"])
        del store.convs[p["id"]]
        store.msgs = {k: m for k, m in store.msgs.items() if m["conversation_id"] != p["id"]}
        store.save()
        return {"deleted": p["id"]}
    if method == "chat.search":
        q = p["query"].lower()
        results = []
        for conv in store.listing():
            hit = next(
                (
                    m
                    for m in store.msgs.values()
                    if m["conversation_id"] == conv["id"] and q in m["content"].lower()
                ),
                None,
            )
            if q in conv["title"].lower() or hit:
                match = hit and {
                    "message_id": hit["id"],
                    "role": hit["role"],
                    "snippet": hit["content"][:80],
                }
                results.append({"conversation": conv, "match": match})
        return {"results": results}
    if method == "chat.export":
        thread = store.thread(p["id"])
        fmt = p.get("format") or "markdown"
        if fmt == "json":
            content = json.dumps(thread, indent=2)
        else:
            lines = [f"# {thread['conversation']['title']}", ""]
            for m in thread["messages"]:
                lines += [f"## {m['role'].title()}", "", m["content"], ""]
            content = "\n".join(lines)
        if p.get("path"):
            Path(p["path"]).write_text(content, encoding="utf-8")
        return {"format": fmt, "path": p.get("path"), "content": content}
    if method == "chat.send":
        conv = store.conv(p["conversation_id"])
        check_params(p.get("params"), p.get("model") or conv["model_id"])
        if not p.get("content", "").strip():
            raise UserError("The message is empty; type something to send.")
        user = store.add(
            conv["id"],
            p.get("parent_id", conv["current_leaf_id"]),
            "user",
            p["content"],
            "complete",
        )
        if conv["title"] == "New chat":
            conv["title"] = p["content"][:60]
        start_reply(rid, send, cancelled, conv["id"], user["id"], {"user_message": dict(user)})
        return None
    if method == "chat.regenerate":
        msg = store.msgs[p.get("message_id") or store.conv(p["conversation_id"])["current_leaf_id"]]
        parent = msg["parent_id"] if msg["role"] == "assistant" else msg["id"]
        start_reply(rid, send, cancelled, msg["conversation_id"], parent, {})
        return None
    if method == "chat.edit":
        old = store.msgs[p["message_id"]]
        user = store.add(old["conversation_id"], old["parent_id"], "user", p["content"], "complete")
        extra = {"user_message": dict(user), "edited_message_id": old["id"]}
        start_reply(rid, send, cancelled, old["conversation_id"], user["id"], extra)
        return None
    if method == "chat.switch_branch":
        msg = store.msgs[p["message_id"]]
        leaf = msg["id"]
        while kids := store.children(leaf, msg["conversation_id"]):
            leaf = kids[-1]
        store.convs[msg["conversation_id"]]["current_leaf_id"] = leaf
        store.save()
        return store.thread(msg["conversation_id"])
    if method == "chat.count_tokens":
        if p.get("conversation_id"):
            conv = store.conv(p["conversation_id"])
            messages = history(conv, conv["current_leaf_id"])
            messages.append({"role": "user", "content": p.get("content") or ""})
            return count(messages, {**conv["params"], **(p.get("params") or {})})
        return count(p.get("messages") or [], p.get("params"))
    if method == "chat.params":
        return real_answer("chat.params")
    if method in ("chat.templates", "chat.set_template"):
        if method == "chat.set_template":
            store.template = p["template"]
        out: dict[str, Any] = {
            "templates": [
                {
                    "name": t,
                    "label": t.title(),
                    "description": f"the {t} format",
                    "stop": [],
                    "source": "",
                }
                for t in TEMPLATES[2:]
            ],
            "choices": TEMPLATES,
        }
        if p.get("model_id"):
            out["model"] = {
                "model_id": p["model_id"],
                "template": store.template,
                "has_own_template": False,
                "effective": "plain" if store.template in ("auto", "model") else store.template,
                "stop": [],
            }
        return out
    if method in ("chat.model_settings", "chat.set_model_settings"):
        from engine.runtimes.settings import SETTINGS_HELP, ModelSettingValues

        saved = store.model_settings.setdefault(p["model_id"], {})
        for key, value in (p.get("settings") or {}).items():
            if value is None:
                saved.pop(key, None)
            else:
                saved[key] = ModelSettingValues.check_value(key, value)  # the engine's checks
        return {"model_id": p["model_id"], "settings": dict(saved), "help": SETTINGS_HELP}
    if method == "chat.loaded":
        return {"loaded": store.loaded}
    raise UserError(f"The fake engine has no {method}.")
