"""GGUF metadata: the real bundled Gemma, tiny files written here, and every way a file can be bad."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from engine.core.errors import UserError
from engine.models.gguf_meta import read_gguf, read_header

from .conftest import TINY_GGUF_PARAMS, write_gguf


def test_bundled_gemma_metadata(gemma_gguf):
    meta = read_gguf(gemma_gguf)

    assert meta["format"] == "gguf"
    assert meta["role"] == "llm"
    assert meta["arch"] == "gemma3"
    assert meta["quant"] == "Q4_K_M"
    assert meta["context_length"] == 32768
    assert meta["params"] == 268_098_176  # sum of tensor elements; the file has no parameter_count
    assert meta["chat_template"] is None  # a base model: no template in its metadata
    assert meta["name"] == "Gemma 3 270m"
    assert meta["size_bytes"] == gemma_gguf.stat().st_size
    assert meta["vocab_size"] == 262_144


@pytest.mark.slow
def test_header_walk_agrees_with_gguf_reader(gemma_gguf):
    from gguf import GGUFReader

    reader = GGUFReader(gemma_gguf)
    header = read_header(gemma_gguf)
    assert header.data_offset == reader.data_offset
    assert [t[0] for t in header.tensors] == [t.name for t in reader.tensors]
    assert [(t[2], t[3], t[4]) for t in header.tensors] == [
        (t.n_elements, t.n_bytes, t.data_offset) for t in reader.tensors
    ]
    for key in (
        "general.architecture",
        "general.name",
        "gemma3.context_length",
        "general.file_type",
    ):
        assert header.fields[key] == reader.fields[key].contents()


def test_tiny_gguf_metadata(tmp_path):
    path = write_gguf(tmp_path / "tiny.gguf")
    meta = read_gguf(path)
    assert meta["arch"] == "llama"
    assert meta["name"] == "Tiny Llama"
    assert meta["context_length"] == 256
    assert meta["chat_template"].startswith("{% for m in messages %}")
    assert meta["params"] == TINY_GGUF_PARAMS
    assert meta["quant"] == "F16"  # no file_type: the dominant non-F32 tensor type
    assert meta["size_bytes"] == path.stat().st_size
    assert meta["role"] == "llm"


def test_file_type_names_the_quantization(tmp_path):
    import gguf

    path = write_gguf(tmp_path / "q.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q8_0)
    assert read_gguf(path)["quant"] == "Q8_0"
    path = write_gguf(tmp_path / "f32.gguf", file_type=gguf.LlamaFileType.ALL_F32)
    assert read_gguf(path)["quant"] == "F32"


def test_missing_name_falls_back_to_file_name_and_pooling_means_embedding(tmp_path):
    path = write_gguf(tmp_path / "my-embedder.gguf", arch="bert", name=None, pooling=True)
    meta = read_gguf(path)
    assert meta["name"] == "my-embedder"
    assert meta["role"] == "embedding"


def test_truncated_gguf_is_rejected(tmp_path):
    path = write_gguf(tmp_path / "cut.gguf")
    data = path.read_bytes()
    path.write_bytes(data[:-100])  # the header is intact, the last tensor is not
    with pytest.raises(UserError, match=r"incomplete.*download or export it again"):
        read_gguf(path)


def test_random_bytes_are_not_a_gguf(tmp_path):
    path = tmp_path / "noise.gguf"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(UserError, match="not a GGUF file"):
        read_gguf(path)


def test_other_format_is_not_a_gguf(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("just some text, not a model\n")
    with pytest.raises(UserError, match="not a GGUF file"):
        read_gguf(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gguf"
    path.touch()
    with pytest.raises(UserError, match="empty"):
        read_gguf(path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.gguf"
    with pytest.raises(UserError, match=r"nope\.gguf does not exist"):
        read_gguf(path)


def test_garbage_after_the_signature(tmp_path):
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<I", 3) + np.random.default_rng(2).bytes(2048))
    with pytest.raises(UserError, match="not a valid GGUF"):
        read_gguf(path)


def test_every_cut_and_many_corruptions_give_a_user_error(tmp_path):
    """No raw ValueError/IndexError/struct.error (or a hang) escapes, wherever the damage is."""
    good = write_gguf(tmp_path / "good.gguf").read_bytes()
    path = tmp_path / "bad.gguf"
    header_end = read_header(tmp_path / "good.gguf").data_offset
    for cut in range(0, len(good) - 1, 37):
        path.write_bytes(good[:cut])
        with pytest.raises(UserError):
            read_gguf(path)
    rng = np.random.default_rng(3)
    for _ in range(300):
        corrupt = bytearray(good)
        for pos in rng.integers(4, header_end, size=3):
            corrupt[pos] = rng.integers(0, 256)
        path.write_bytes(bytes(corrupt))
        try:
            read_gguf(path)
        except UserError as exc:
            assert exc.message.count("\n") == 0


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = write_gguf(tmp_path / "locked.gguf")
    path.chmod(0)
    with pytest.raises(UserError, match="Cannot read"):
        read_gguf(path)
