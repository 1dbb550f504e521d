"""Conversation search: the full-text (FTS5 trigram) index finds what the LIKE scan finds, stays
in step with new, edited and deleted messages, is built for messages stored before it existed,
and an SQLite without it falls back to the scan."""

from __future__ import annotations

import pytest

from engine.chat import store as chat_store
from engine.chat.store import ChatStore
from engine.services import Services

QUERIES = ["PHOTOSYNTH", "chlorophyll", "Grüße", "naïve", "ab", "100%_", 'say "hi"', "zzz-none"]


def found(store: ChatStore, query: str) -> list[tuple[str, str | None]]:
    return [
        (r["conversation"]["id"], (r["match"] or {}).get("message_id")) for r in store.search(query)
    ]


def fill(store: ChatStore) -> dict[str, str]:
    plants = store.create(title="Plants")
    m1 = store.add_message(plants["id"], parent_id=None, role="user",
                           content="Explain photosynthesis and chlorophyll")  # fmt: skip
    store.add_message(plants["id"], parent_id=m1["id"], role="assistant",
                      content='Leaves are green; say "hi" to the sun.')  # fmt: skip
    letters = store.create(title="Letters")
    store.add_message(letters["id"], parent_id=None, role="user",
                      content="Freundliche Grüße from a naïve café, ab 100% sure")  # fmt: skip
    shop = store.create(title="Shopping list about labs")
    return {"plants": plants["id"], "letters": letters["id"], "shop": shop["id"], "m1": m1["id"]}


@pytest.fixture
def services(hearth_home):
    svc = Services(hearth_home)
    yield svc
    svc.close()


def test_index_and_scan_agree(services):
    store = services.chats
    assert store.fts  # this SQLite has FTS5 with trigrams
    ids = fill(store)
    scan = ChatStore(services)  # never built the index: searches with LIKE
    assert not scan.fts
    for query in QUERIES:
        assert found(store, query) == found(scan, query), query
    assert found(store, "photosynth") == [(ids["plants"], ids["m1"])]
    assert [c for c, _ in found(store, "grüße")] == [ids["letters"]]
    assert [c for c, _ in found(store, "lab")] == [ids["shop"]]  # a title match, no message
    assert found(store, "zzz-none") == []


def test_index_follows_edits_and_deletes(services):
    store = services.chats
    ids = fill(store)
    reply = store.add_message(ids["shop"], parent_id=None, role="assistant", content="",
                              state="streaming")  # fmt: skip
    store.update_message(reply["id"], content="Buy tomatoes")  # as a streaming reply grows
    store.update_message(reply["id"], content="Buy tomatoes and basil")
    assert found(store, "basil") == [(ids["shop"], reply["id"])]
    store.update_message(reply["id"], content="Buy bread")
    assert found(store, "basil") == []
    store.delete(ids["plants"])  # its messages go by cascade
    assert found(store, "chlorophyll") == []


def test_messages_stored_before_the_index_are_found(hearth_home, monkeypatch):
    monkeypatch.setattr(chat_store.ChatStore, "ensure_search_index", lambda self: False)
    services = Services(hearth_home)
    ids = fill(services.chats)
    services.close()
    monkeypatch.undo()
    services = Services(hearth_home)
    store = services.chats
    assert store.fts
    assert found(store, "chlorophyll") == [(ids["plants"], ids["m1"])]
    services.close()


def test_a_word_in_very_many_messages_is_searched_by_scan(services, monkeypatch):
    store = services.chats
    ids = fill(store)
    looked_up = []
    few_hits = ChatStore._few_hits
    monkeypatch.setattr(ChatStore, "_few_hits", lambda s, n: looked_up.append(n) or few_hits(s, n))
    assert [c for c, _ in found(store, "chlorophyll")] == [ids["plants"]]
    monkeypatch.setattr(chat_store, "_FTS_MAX_HITS", 0)  # every word counts as common now
    assert [c for c, _ in found(store, "chlorophyll")] == [ids["plants"]]
    assert looked_up == ["chlorophyll", "chlorophyll"]
