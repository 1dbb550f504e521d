"""LoRA adapter GGUFs in the model library: recognised from the header, linked to a base GGUF,
refused on a base they do not fit, and kept consistent when their base goes away."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from engine.core.errors import UserError
from engine.models.gguf_meta import adapter_problems, read_gguf, read_header
from engine.models.jobs import import_model as import_job
from engine.runtimes.manager import choose_runtime
from tests.engine.models.conftest import write_gguf, write_hf_folder
from tests.engine.runtimes.fixtures import write_lora_gguf

TARGETS = ("attn_q", "attn_k")


@pytest.fixture
def base_file(tmp_path) -> Path:
    return write_gguf(tmp_path / "tiny.gguf")


@pytest.fixture
def lora_file(tmp_path, base_file) -> Path:
    return write_lora_gguf(tmp_path / "tiny-lora.gguf", base_file, targets=TARGETS, rank=2)


@pytest.fixture
def base_id(services, base_file) -> str:
    return services.library.import_model(base_file, mode="reference", name="Tiny base")["id"]


def test_header_reader_recognises_a_lora_adapter(lora_file, base_file):
    meta = read_gguf(lora_file)
    assert meta["role"] == "adapter" and meta["arch"] == "llama"
    assert meta["adapter"] == {"type": "lora", "alpha": 8.0, "rank": 2, "tensors": 2}
    assert read_gguf(base_file)["role"] == "llm"
    header = read_header(lora_file)
    assert header.shapes["blk.0.attn_q.weight.lora_a"] == (16, 2)  # ggml ne: (in, rank)
    assert adapter_problems(header, read_header(base_file)) == []


def test_other_adapter_kinds_and_unusable_tensor_types_are_refused(tmp_path):
    writer = gguf.GGUFWriter(str(tmp_path / "cv.gguf"), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "control_vector")
    writer.add_tensor("x", np.zeros((2, 2), dtype=np.float32))
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file,
                 writer.write_tensors_to_file, writer.close):  # fmt: skip
        step()
    with pytest.raises(UserError, match="LoRA adapters only"):
        read_gguf(tmp_path / "cv.gguf")

    writer = gguf.GGUFWriter(str(tmp_path / "f64.gguf"), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((2, 16)))  # float64
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((16, 2)))
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file,
                 writer.write_tensors_to_file, writer.close):  # fmt: skip
        step()
    with pytest.raises(UserError, match=r"F64.*llama\.cpp cannot apply"):
        read_gguf(tmp_path / "f64.gguf")


def test_import_without_a_base_is_refused_with_what_to_pick(services, lora_file):
    with pytest.raises(UserError) as err:
        services.library.import_model(lora_file, mode="reference")
    assert err.value.code == -32001
    assert "LoRA adapter" in err.value.message
    assert "pick the base model it was trained on" in err.value.message
    # the app asks for a base
    assert err.value.data == {"needs_base": True, "arch": "llama", "kind": "LoRA"}
    assert services.library.list() == []


def test_import_links_the_adapter_to_its_base(services, lora_file, base_id):
    model = services.library.import_model(lora_file, mode="copy", base_model_id=base_id)
    assert model["role"] == "adapter" and model["format"] == "gguf"
    assert model["base_model_id"] == base_id and model["base_name"] == "Tiny base"
    assert model["adapter_scale"] == 1.0 and model["lora"]["rank"] == 2
    assert model["context_length"] == 256  # the base's
    assert (
        model["chat_template"] == read_gguf(services.library.get(base_id)["path"])["chat_template"]
    )
    assert not model["missing"] and model["missing_reason"] is None
    caps = model["capabilities"]
    assert caps["chat_llama_cpp"] and not any(
        caps[k] for k in ("chat_transformers", "train", "prune", "embed", "convert")
    )
    assert choose_runtime(model, {}) == "llama_cpp"
    with pytest.raises(UserError, match=r"runs in llama\.cpp"):
        choose_runtime(model, {"runtime": "transformers"})
    listed = {m["id"]: m for m in services.library.list()}
    assert listed[model["id"]]["base_name"] == "Tiny base"
    # through the job kind, with a scale
    params = {"path": str(lora_file), "mode": "reference", "name": "Half",
              "base_model_id": base_id, "scale": 0.5}  # fmt: skip
    again = import_job(_Ctx(services, params))
    assert again["adapter_scale"] == 0.5 and again["name"] == "Half"


class _Ctx:
    def __init__(self, services, params):
        self.services, self.params = services, params

    def progress(self, *_a):
        pass

    def check_cancelled(self, *_a):
        pass

    def cancelled(self):
        return False


def test_bases_that_cannot_carry_the_adapter_are_refused(services, tmp_path, lora_file, base_id):
    lib = services.library
    with pytest.raises(UserError, match="No model with id 'nope'"):
        lib.import_model(lora_file, mode="reference", base_model_id="nope")
    hf = lib.import_model(write_hf_folder(tmp_path / "hf"), mode="reference")["id"]
    with pytest.raises(UserError, match=r"Hugging Face folder.*GGUF"):
        lib.import_model(lora_file, mode="reference", base_model_id=hf)
    emb = write_gguf(tmp_path / "emb.gguf", arch="bert", name="Emb", pooling=True)
    emb_id = lib.import_model(emb, mode="reference")["id"]
    with pytest.raises(UserError, match="embedding model"):
        lib.import_model(lora_file, mode="reference", base_model_id=emb_id)
    qwen = write_gguf(tmp_path / "qwen.gguf", arch="qwen2", name="Qwen")
    qwen_id = lib.import_model(qwen, mode="reference")["id"]
    with pytest.raises(UserError, match="trained on a 'llama' model but Qwen is 'qwen2'"):
        lib.import_model(lora_file, mode="reference", base_model_id=qwen_id)
    # same architecture, other shapes: llama.cpp would refuse the pair, so the import does
    wide = tmp_path / "wide-lora.gguf"
    write_lora_gguf(wide, _wider_base(tmp_path), targets=TARGETS)
    with pytest.raises(UserError, match=r"does not fit Tiny base: blk\.0\.attn_k\.weight is 16x16"):
        lib.import_model(wide, mode="reference", base_model_id=base_id)
    with pytest.raises(UserError, match="is a whole model"):
        lib.import_model(qwen, mode="reference", name="again", base_model_id=base_id)
    with pytest.raises(UserError, match="scale"):
        lib.import_model(lora_file, mode="reference", base_model_id=base_id, scale=-1)
    assert not [m for m in lib.list() if m["role"] == "adapter"]


def _wider_base(tmp_path: Path) -> Path:
    """A llama GGUF whose attention weights are 32 wide instead of 16."""
    path = tmp_path / "wide.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((32, 32), dtype=np.float32))
    writer.add_tensor("blk.0.attn_k.weight", np.zeros((32, 32), dtype=np.float32))
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file,
                 writer.write_tensors_to_file, writer.close):  # fmt: skip
        step()
    return path


def test_removing_a_base_is_refused_while_adapters_depend_on_it(services, lora_file, base_id):
    lib = services.library
    adapter = lib.import_model(lora_file, mode="copy", base_model_id=base_id, name="My LoRA")
    with pytest.raises(UserError) as err:
        lib.remove(base_id)
    assert "My LoRA" in err.value.message and adapter["id"] in err.value.message
    assert "with_adapters" in err.value.message
    assert {m["id"] for m in lib.list()} == {base_id, adapter["id"]}
    done = lib.remove(base_id, delete_files=True, with_adapters=True)
    assert done == {"removed": base_id, "adapters": [adapter["id"]]}
    assert lib.list() == []
    assert not Path(adapter["path"]).exists()  # its copy went with it, as asked


def test_an_adapter_whose_base_is_gone_shows_missing_with_the_reason(
    services, lora_file, base_id, base_file, tmp_path
):
    lib = services.library
    adapter = lib.import_model(lora_file, mode="reference", base_model_id=base_id)
    moved = base_file.rename(tmp_path / "moved.gguf")
    shown = lib.get(adapter["id"])
    assert (
        shown["missing"]
        and "file of its base model Tiny base is missing" in shown["missing_reason"]
    )
    with pytest.raises(UserError, match="cannot be used: the file of its base model"):
        choose_runtime(shown, {})
    # the base is removed from the library (as a database edit by an older Hearth could): the
    # adapter stays listed, unusable, saying what to do
    services.db().execute("DELETE FROM models WHERE id = ?", (base_id,))
    shown = lib.get(adapter["id"])
    assert shown["missing"] and shown["base_name"] is None
    assert "was removed from the library" in shown["missing_reason"]
    # relinking to the re-imported base makes it usable again, and the scale can change
    new_base = lib.import_model(moved, mode="reference")["id"]
    relinked = lib.set_adapter(adapter["id"], base_model_id=new_base, scale=0.25)
    assert not relinked["missing"] and relinked["base_model_id"] == new_base
    assert relinked["adapter_scale"] == 0.25
    with pytest.raises(UserError, match="not a LoRA adapter"):
        lib.set_adapter(new_base, scale=1.0)


def test_inspect_shows_an_adapter_before_import(services, lora_file):
    shown = services.library.inspect(lora_file)
    assert shown["role"] == "adapter" and shown["lora"]["alpha"] == 8.0
    assert shown["base_model_id"] is None and not shown["missing"]
