"""The model library: import by copy or reference, rename, remove, failures mid-copy, bundled models."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from engine.core import paths
from engine.core.errors import Cancelled, NotFoundError, UserError
from engine.jobs.registry import SimpleContext
from engine.models import jobs as model_jobs
from engine.models.capabilities import CAPABILITY_NAMES
from engine.services import Services

from .conftest import TINY_GGUF_PARAMS, write_gguf, write_hf_folder

MODEL_KEYS = {
    "id", "name", "format", "role", "arch", "params", "quant", "context_length", "chat_template",
    "size_bytes", "path", "managed", "bundled", "missing", "torch_path", "capabilities", "added_at", "lineage",
}  # fmt: skip


def _leftovers(services: Services) -> list[str]:
    folder = services.root / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_import_copy(services, tmp_path, events):
    source = write_gguf(tmp_path / "tiny.gguf")
    ctx = SimpleContext()
    model = services.library.import_model(source, mode="copy", ctx=ctx)

    assert set(model) == MODEL_KEYS
    assert set(model["capabilities"]) == set(CAPABILITY_NAMES)
    assert model["managed"] and not model["bundled"] and not model["missing"]
    copied = Path(model["path"])
    assert copied == services.root / "models" / model["id"] / "tiny.gguf"
    assert copied.read_bytes() == source.read_bytes()
    assert model["params"] == TINY_GGUF_PARAMS and model["name"] == "Tiny Llama"
    assert model["id"].startswith("tiny-llama-") and len(model["id"]) == len("tiny-llama-") + 6
    assert [m["id"] for m in services.library.list()] == [model["id"]]
    assert services.library.get(model["id"]) == model
    assert ("models.changed", {}) in events
    fractions = [e[1][0] for e in ctx.events if e[0] == "progress"]
    assert fractions and fractions[-1] == 1.0
    assert _leftovers(services) == [model["id"]]  # no temp folders


def test_import_reference(services, tmp_path):
    source = write_gguf(tmp_path / "tiny.gguf")
    model = services.library.import_model(source, mode="reference", name="My model")
    assert model["path"] == str(source.resolve())
    assert not model["managed"]
    assert model["name"] == "My model"
    assert _leftovers(services) == []
    with pytest.raises(UserError, match="already in your library"):
        services.library.import_model(source, mode="reference")


def test_missing_is_computed_on_read(services, tmp_path):
    source = write_gguf(tmp_path / "tiny.gguf")
    model = services.library.import_model(source, mode="reference")
    source.unlink()
    assert services.library.get(model["id"])["missing"] is True


def test_import_hf_folder_copies_all_but_pickles(services, tmp_path):
    folder = write_hf_folder(tmp_path / "tiny-llama")
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text("{}")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    model = services.library.import_model(
        folder / "config.json"
    )  # picking config.json means its folder
    dest = Path(model["path"])
    assert dest == services.root / "models" / model["id"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "config.json", "model.safetensors",
    ]  # fmt: skip
    assert model["format"] == "hf" and model["capabilities"]["chat_transformers"]


def test_import_rejects_bad_input(services, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        services.library.import_model(tmp_path / "nothing.gguf")
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(os.urandom(1000))
    with pytest.raises(UserError, match="not a GGUF"):
        services.library.import_model(noise)
    with pytest.raises(UserError, match="mode"):
        services.library.import_model(write_gguf(tmp_path / "ok.gguf"), mode="move")
    assert services.library.list() == []


def test_full_disk_during_copy_leaves_nothing(services, tmp_path, monkeypatch):
    source = write_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setattr(paths, "_COPY_CHUNK", 512)
    chunks = []

    def full_disk(fh, chunk):
        if chunks:
            raise OSError(errno.ENOSPC, "No space left on device")
        chunks.append(len(chunk))
        fh.write(chunk)

    monkeypatch.setattr(paths, "write_chunk", full_disk)
    with pytest.raises(UserError) as info:
        services.library.import_model(source, ctx=SimpleContext())
    assert "is full" in info.value.message and "move the data folder" in info.value.message
    assert chunks  # it failed mid-copy, after the first chunk
    assert services.library.list() == []
    assert _leftovers(services) == []
    assert source.exists()


def test_cancel_during_copy_leaves_nothing(services, tmp_path, monkeypatch):
    folder = write_hf_folder(tmp_path / "tiny-llama", shards=2)
    monkeypatch.setattr(paths, "_COPY_CHUNK", 64)

    class CancelAfterFirstChunk(SimpleContext):
        def progress(self, fraction, message=None):
            super().progress(fraction, message)
            self.cancel_flag = True

    with pytest.raises(Cancelled) as info:
        services.library.import_model(folder, ctx=CancelAfterFirstChunk())
    assert info.value.partial["total_bytes"] > 0
    assert services.library.list() == []
    assert _leftovers(services) == []


def test_rename(services, tmp_path, events):
    model = services.library.import_model(write_gguf(tmp_path / "t.gguf"), mode="reference")
    events.clear()
    renamed = services.library.rename(model["id"], "  Better name ")
    assert renamed["name"] == "Better name" and renamed["id"] == model["id"]
    assert services.library.get(model["id"])["name"] == "Better name"
    assert events == [("models.changed", {})]
    with pytest.raises(UserError, match="empty"):
        services.library.rename(model["id"], " ")
    with pytest.raises(NotFoundError):
        services.library.rename("no-such-model", "x")


def test_remove_keeps_files_unless_asked(services, tmp_path):
    source = write_gguf(tmp_path / "t.gguf")
    kept = services.library.import_model(source)
    assert services.library.remove(kept["id"]) == {"removed": kept["id"]}
    assert Path(kept["path"]).exists()
    with pytest.raises(NotFoundError):
        services.library.get(kept["id"])

    deleted = services.library.import_model(source)
    services.library.remove(deleted["id"], delete_files=True)
    assert not Path(deleted["path"]).exists()
    assert not (services.root / "models" / deleted["id"]).exists()

    referenced = services.library.import_model(source, mode="reference")
    services.library.remove(referenced["id"], delete_files=True)
    assert source.exists()  # never delete the user's own file
    assert [m["id"] for m in services.library.list()] == []
    with pytest.raises(NotFoundError):
        services.library.remove(referenced["id"])


def test_capabilities(services, tmp_path):
    lib = services.library
    gguf_llm = lib.import_model(write_gguf(tmp_path / "a.gguf"), mode="reference")
    assert gguf_llm["capabilities"] == {
        "chat_llama_cpp": True, "chat_transformers": True, "chat_remote": False, "train": True,
        "prune": True, "embed": False, "convert": True,
    }  # fmt: skip
    odd = lib.import_model(write_gguf(tmp_path / "b.gguf", arch="rwkv7"), mode="reference")
    assert odd["capabilities"]["chat_llama_cpp"] and not odd["capabilities"]["convert"]
    assert not odd["capabilities"]["train"]
    hf = lib.import_model(write_hf_folder(tmp_path / "hf"), mode="reference")
    assert hf["capabilities"]["train"] and not hf["capabilities"]["convert"]
    assert not hf["capabilities"]["chat_llama_cpp"]


def test_inspect_does_not_import(services, tmp_path):
    info = services.library.inspect(write_gguf(tmp_path / "a.gguf"))
    assert info["id"] is None and info["added_at"] is None and not info["missing"]
    assert set(info) == MODEL_KEYS
    assert services.library.list() == []


def test_managed_paths_survive_moving_the_data_root(tmp_path, monkeypatch):
    root = tmp_path / "root-a"
    root.mkdir()
    monkeypatch.setenv("HEARTH_HOME", str(root))
    first = Services(root)
    model = first.library.import_model(write_gguf(tmp_path / "t.gguf"))
    first.close()
    first.db().close()
    moved = tmp_path / "root-b"
    shutil.move(root, moved)
    again = Services(moved).library.get(model["id"])
    assert again["path"].startswith(str(moved)) and not again["missing"]


def test_import_job_returns_the_model(services, tmp_path):
    ctx = SimpleContext(
        params={"path": str(write_gguf(tmp_path / "t.gguf")), "mode": "copy", "name": None},
        services=services,
    )
    model = model_jobs.import_model(ctx)
    assert model["managed"] and services.library.get(model["id"]) == model


def test_ensure_bundled_is_idempotent(services, events):
    first = services.library.ensure_bundled()
    names = ["Gemma 3 270M (base)", "Hearth starter", "all-MiniLM-L6-v2"]
    assert sorted(m["name"] for m in first) == names
    gemma = next(m for m in first if m["role"] == "llm")
    starter = next(m for m in first if m["role"] == "adapter")
    minilm = next(m for m in first if m["format"] == "hf")
    assert starter["base_model_id"] == gemma["id"] and not starter["missing"]
    assert gemma["arch"] == "gemma3" and gemma["quant"] == "Q4_K_M" and gemma["bundled"]
    assert Path(gemma["path"]) == services.root / "models" / "bundled" / "gemma-3-270m-q4_k_m.gguf"
    assert minilm["role"] == "embedding" and minilm["capabilities"]["embed"] and minilm["bundled"]
    events.clear()
    second = services.library.ensure_bundled()
    assert second == first
    assert events == []  # nothing changed, nothing announced
    assert len(services.library.list()) == 3

    # A removed bundled model stays removed, and its files are not deleted; the starter adapter
    # goes with its base (it has nothing to apply to) and comes back with it.
    with pytest.raises(UserError, match="base of 1 adapter: Hearth starter"):
        services.library.remove(gemma["id"])
    services.library.remove(gemma["id"], delete_files=True, with_adapters=True)
    assert Path(gemma["path"]).exists() and Path(starter["path"]).exists()
    assert [m["id"] for m in services.library.ensure_bundled()] == [minilm["id"]]
    restored = services.library.ensure_bundled(restore=True)
    assert {m["id"] for m in restored} == {gemma["id"], starter["id"], minilm["id"]}


def test_ensure_bundled_reassembles_a_damaged_gguf(services):
    gemma = next(m for m in services.library.ensure_bundled() if m["format"] == "gguf")
    path = Path(gemma["path"])
    with open(path, "r+b") as fh:
        fh.truncate(1000)
    services.library.ensure_bundled()
    assert path.stat().st_size == gemma["size_bytes"]
    assert (
        json.loads(path.with_name(path.name + ".stamp.json").read_text())["size"]
        == path.stat().st_size
    )


def test_symlinked_gguf_keeps_its_own_name(services, tmp_path):
    """Hugging Face's cache links model files to blobs named by hash; the link's name is the one to keep."""
    blob = write_gguf(tmp_path / "3f9a1c0d2b7e")
    link = tmp_path / "tiny-q8.gguf"
    link.symlink_to(blob)
    model = services.library.import_model(link)
    assert Path(model["path"]).name == "tiny-q8.gguf"
    assert not Path(model["path"]).is_symlink()


def test_ensure_bundled_from_many_threads_at_once(services):
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            services.library.ensure_bundled()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m["role"] for m in services.library.list()) == ["adapter", "embedding", "llm"]


def test_relink_a_moved_model_keeps_its_id_and_refuses_another_model(services, tmp_path):
    first = tmp_path / "a" / "tiny.gguf"
    first.parent.mkdir()
    write_gguf(first)
    model = services.library.import_model(first, mode="reference")
    moved = tmp_path / "b" / "tiny-moved.gguf"
    moved.parent.mkdir()
    first.rename(moved)
    assert services.library.get(model["id"])["missing"]

    other = write_gguf(tmp_path / "other.gguf", arch="qwen2")
    with pytest.raises(UserError, match=r"not the same model.*arch 'llama' here, 'qwen2' there"):
        services.library.relink(model["id"], other)
    assert services.library.get(model["id"])["missing"]  # a refused relink changes nothing

    relinked = services.library.relink(model["id"], moved)
    assert relinked["id"] == model["id"] and not relinked["missing"]
    assert relinked["path"] == str(moved) and relinked["name"] == model["name"]
    assert services.library.get(model["id"])["path"] == str(moved)


def test_relinking_a_copy_makes_it_referenced_and_folders_relink_too(services, tmp_path):
    folder = write_hf_folder(tmp_path / "hf")
    copied = services.library.import_model(folder, mode="copy")
    assert copied["managed"]
    shutil.rmtree(copied["path"])
    elsewhere = write_hf_folder(tmp_path / "elsewhere")
    relinked = services.library.relink(copied["id"], elsewhere)
    assert not relinked["missing"] and not relinked["managed"]  # never deleted by Hearth
    services.library.remove(copied["id"], delete_files=True)
    assert (elsewhere / "config.json").exists()


def test_a_bundled_model_named_on_a_fresh_data_folder_is_registered_then(services):
    """`chat --model <bundled id>` (or any command naming it) before anything listed the models."""
    from engine.models import bundled

    gemma_id = next(bundled.bundled_id(s) for s in bundled.SPECS if "gemma" in s.key.lower())
    assert services.library.list() == []
    assert services.library.get(gemma_id)["bundled"]
    services.library.remove(gemma_id, with_adapters=True)
    with pytest.raises(NotFoundError, match="may have been removed"):  # removed stays removed
        services.library.get(gemma_id)


def test_a_first_start_unpacks_the_bundled_gemma_as_a_job_with_progress(services, events):
    """The engine's first start joins the Gemma file in a job (the app shows its progress in the
    status bar and Activity); once it is there, later starts have nothing to unpack."""
    from engine.models import bundled

    assert bundled.needs_unpacking(services.library)
    started = services.jobs.start("models.prepare_bundled", {})
    job = services.jobs.wait(started["id"], 120)
    assert job["state"] == "succeeded", job
    assert len(job["result"]["models"]) == 3
    shown = [p.get("message") or "" for m, p in events if m == "job.progress" and p.get("job_id") == started["id"]]  # fmt: skip
    unpacking = [m for m in shown if m.startswith("Unpacking Gemma 3 270M (")]
    assert len(unpacking) >= 2  # (the job manager spaces progress notifications out)
    done, total = unpacking[-1].removeprefix("Unpacking Gemma 3 270M (").removesuffix(" MB)").split(" of ")  # fmt: skip
    assert done == total and int(total) > 200
    assert not bundled.needs_unpacking(services.library)
    gemma = next(m for m in services.library.list() if m["format"] == "gguf" and m["role"] == "llm")
    assert bundled.sha256_file(Path(gemma["path"])) == bundled._gemma_package().EXPECTED_SHA256
