"""The runtime manager keeps models warm, evicts the least recently used, and reports what is loaded."""

from __future__ import annotations


def test_loaded_reports_model_runtime_device_memory(services, gemma_id):
    manager = services.runtimes
    assert manager.loaded() == []
    with manager.use(gemma_id):
        pass
    (info,) = manager.loaded()
    assert info["model_id"] == gemma_id and info["runtime"] == "llama_cpp"
    assert info["device"] == "cpu" and info["memory_bytes"] > 200_000_000
    assert services.runtimes is manager  # one per Services


def test_cap_of_one_evicts_the_least_recently_used(services, gemma_id, tiny_id):
    manager = services.runtimes
    manager.max_loaded = 1
    seen: list[list[str]] = []
    services.add_listener(
        lambda m, p: (
            seen.append([x["model_id"] for x in p["loaded"]])
            if m == "chat.loaded_changed"
            else None
        )
    )
    with manager.use(gemma_id) as first:
        pass
    with manager.use(tiny_id):
        pass
    assert [m["model_id"] for m in manager.loaded()] == [tiny_id]
    assert not first.is_loaded  # the llama.cpp model was really freed
    assert [gemma_id] in seen and seen[-1] == [tiny_id]


def test_a_busy_model_is_not_evicted(services, gemma_id, tiny_id):
    manager = services.runtimes
    manager.max_loaded = 1
    with manager.use(gemma_id) as busy, manager.use(tiny_id):
        assert busy.is_loaded  # still generating: over the cap for a while rather than pulled away
        assert {m["model_id"] for m in manager.loaded()} == {gemma_id, tiny_id}
    assert len(manager.loaded()) == 1


def test_low_memory_evicts_idle_models(services, gemma_id, tiny_id):
    manager = services.runtimes
    with manager.use(tiny_id):
        pass
    manager.available_ram = lambda: manager.ram_margin_bytes + 200_000_000  # Gemma needs ~280 MB
    with manager.use(gemma_id):
        pass
    assert [m["model_id"] for m in manager.loaded()] == [gemma_id]


def test_unload_and_reload_after_a_settings_change(services, gemma_id):
    manager = services.runtimes
    with manager.use(gemma_id) as rt:
        assert rt.context_length() == 4096
    manager.settings.update(gemma_id, {"n_ctx": 512})
    with manager.use(gemma_id) as rt:
        assert rt.context_length() == 512
    assert manager.unload(gemma_id) == {"unloaded": [gemma_id], "pending": []}
    assert manager.loaded() == []


def test_refuses_a_model_that_cannot_fit_in_ram(services, gemma_id):
    import pytest

    from engine.core.errors import UserError

    manager = services.runtimes
    manager.available_ram = lambda: 50_000_000
    with pytest.raises(UserError, match=r"needs about 0\.3 GB of RAM"), manager.use(gemma_id):
        pass
