"""Exporting a run's adapter registers it in the library on top of its base GGUF, so Chat opens it
directly: ``chat.send`` answers with the tuned weights and the training chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.training.conftest import new_run, train
from tests.engine.training.test_methods_cli import call, finished


@pytest.fixture
def client(services):
    from tests.engine.chat.rpc import Client

    c = Client(services)
    yield c
    c.close()


def test_exported_adapter_is_a_library_model_chat_opens(services, client, tiny_id, memo):
    run_id = new_run(services, tiny_id, memo, max_steps=25, learning_rate=2e-2)
    train(services, run_id)
    before = {m["id"] for m in services.library.list()}

    exported = finished(client, call(client, "train.export", {"run": run_id, "what": "adapter"}))
    adapter = services.library.get(exported["model_id"])
    base = services.library.get(exported["base_model_id"])
    run = call(client, "train.get", {"run": run_id})["result"]

    # the HF base was exported to GGUF once and registered; the adapter is linked to it
    assert Path(base["path"]) == Path(run["folder"]) / "gguf" / "base-f16.gguf"
    assert base["role"] == "llm" and base["format"] == "gguf" and base["id"] not in before
    assert adapter["role"] == "adapter" and adapter["base_model_id"] == base["id"]
    assert adapter["name"] == f"{run['name']} (LoRA)" and adapter["path"] == exported["path"]
    assert adapter["capabilities"]["chat_llama_cpp"] and not adapter["missing"]
    assert adapter["chat_template"] == run["template"]["source"]  # the training template
    assert run["chat"]["model"] == {"model_id": adapter["id"], "runtime": "llama_cpp",
                                    "artifact": "gguf_adapter"}  # fmt: skip
    assert run["chat"]["adapter"]["model_id"] == adapter["id"]
    assert run["chat"]["adapter"]["base_model_id"] == base["id"]

    conv = call(client, "chat.create", {"model_id": run["chat"]["model"]["model_id"]})["result"]
    params = {"seed": 1, "temperature": 0.0, "max_tokens": 12}
    sent = call(client, "chat.send", {"conversation_id": conv["id"],
                                      "content": "Say the word number 3", "params": params})  # fmt: skip
    assert "result" in sent, sent
    reply = sent["result"]
    assert reply["model_id"] == adapter["id"] and reply["runtime"] == "llama_cpp"
    assert reply["template"] == "model" and reply["text"]
    plain = call(client, "chat.generate", {"model": base["id"], "params": params,
                 "messages": [{"role": "user", "content": "Say the word number 3"}]})["result"]  # fmt: skip
    assert plain["text"] != reply["text"]  # the adapter's weights answered, not the base's

    # exporting again refreshes the same entries: no duplicates, the conversation still works
    again = finished(client, call(client, "train.export", {"run": run_id, "what": "adapter"}))
    assert (again["model_id"], again["base_model_id"]) == (adapter["id"], base["id"])
    assert len(services.library.list()) == len(before) + 2

    # deleting the run takes its library entries with it (the adapter first, then its base)
    assert call(client, "train.delete", {"run": run_id})["result"] == {"deleted": run_id}
    assert {m["id"] for m in services.library.list()} == before


def test_the_adapter_entry_chats_with_the_template_it_was_trained_with(services, tmp_path):
    from engine.runtimes.settings import ModelSettings
    from engine.training.export_gguf import register_entry
    from tests.engine.models.conftest import write_gguf
    from tests.engine.runtimes.fixtures import write_lora_gguf

    base_file = write_gguf(tmp_path / "base.gguf", chat_template="{{ messages[0].content }}")
    base_id = services.library.import_model(base_file, mode="reference")["id"]
    lora = write_lora_gguf(tmp_path / "lora.gguf", base_file, targets=("attn_q",))
    trained = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    own = register_entry(services, lora, "Own (LoRA)", base_model_id=base_id,
                    template={"name": "model", "source": trained})  # fmt: skip
    assert services.library.get(own)["chat_template"] == trained  # not the base's
    assert "template" not in ModelSettings(services).get(own)
    # a named template (the plain transcript for a base model without one) is the entry's setting,
    # so Chat also gets its stop strings; re-registering keeps the id
    named = register_entry(services, lora, "Named (LoRA)", base_model_id=base_id,
                      template={"name": "plain", "source": "..."})  # fmt: skip
    assert named == own and services.library.get(named)["name"] == "Named (LoRA)"
    assert ModelSettings(services).get(named)["template"] == "plain"
