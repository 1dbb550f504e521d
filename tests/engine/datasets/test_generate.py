"""Generation: Q&A pairs from a (fake) document collection and self-instruct expansion; cancel and
resume; and one run through the real chat engine on a tiny random model."""

from __future__ import annotations

import pytest

from engine.core.errors import Cancelled, UserError
from engine.datasets import generate, sources
from engine.datasets.library import DatasetLibrary
from engine.jobs.registry import SimpleContext

CHUNKS = [
    {"text": "Paris is the capital of France. It lies on the Seine.", "file": "geo.pdf", "page": 3},
    {"text": "Water boils at 100 degrees Celsius at sea level.", "file": "sci.txt", "page": None},
    {"text": "The cat sat on the mat all afternoon.", "file": "story.md", "page": 1},
]


@pytest.fixture
def fake_collection(monkeypatch):
    def chunks(services, collection, files=None):
        return [c for c in CHUNKS if not files or c["file"] in files]

    monkeypatch.setattr(sources, "chunks_source", chunks)
    monkeypatch.setattr(sources, "check_collection", lambda services, collection: "Field notes")


class FakeModel:
    """Answers like a helpful chat model would; records the prompts it got."""

    def __init__(self, ctx=None, cancel_after: int | None = None) -> None:
        self.prompts: list[str] = []
        self.ctx = ctx
        self.cancel_after = cancel_after

    def __call__(self, services, *, model_id, messages, params, cancelled):
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        if self.cancel_after is not None and len(self.prompts) >= self.cancel_after:
            self.ctx.cancel_flag = True
        if "Instruction:" in prompt:  # self-instruct
            n = len(self.prompts)
            task = (
                "Name a colour of the sky."
                if n % 3 == 0
                else f"List {n} prime numbers below {n * 10}."
            )
            return {
                "text": f"Instruction: {task}\nInput:\nOutput: 2, 3, 5",
                "finish_reason": "stop",
            }
        if "Paris" in prompt:
            text = "Q: What is the capital of France?\nA: Paris.\nQ: Which river runs through Paris?\nA: The Seine."
        elif "Water" in prompt:
            text = "1. Q: At what temperature does water boil at sea level?\n   A: 100 degrees Celsius.\n2. Q: ok?\n   A: x"
        else:
            text = "I cannot write questions about this."
        return {"text": text, "finish_reason": "stop"}


def test_qa_rows_keep_their_source_chunk_and_bad_pairs_are_filtered(
    services, fake_collection, monkeypatch
):
    model = FakeModel()
    monkeypatch.setattr(generate, "chat_generate", model)
    ctx = SimpleContext(services=services, job_id="gen1")
    out = generate.run_generate(services, {"collection": "docs", "per_chunk": 2, "name": "qa"}, ctx)
    assert out["rows"] == 3 and out["steps"] == 3
    assert out["rejected"] == {"bad_question_length": 1, "unparsed_replies": 1}
    assert (
        "write 2 question-and-answer pairs" in model.prompts[0]
        and "(from geo.pdf, page 3)" in model.prompts[0]
    )
    rows = [r["row"] for r in DatasetLibrary(services).page("qa")["rows"]]
    assert rows[0] == {
        "instruction": "What is the capital of France?",
        "input": "",
        "output": "Paris.",
        "source_text": CHUNKS[0]["text"],
        "source_file": "geo.pdf",
        "source_page": 3,
        "source_collection": "docs",
    }
    assert rows[2]["source_file"] == "sci.txt" and rows[2]["output"] == "100 degrees Celsius."
    history = DatasetLibrary(services).history("qa")["versions"]
    assert history[0]["operation"] == "generate"


def test_echoed_templates_invented_files_and_unsupported_answers_are_rejected(
    services, fake_collection, monkeypatch
):
    def model(services, *, model_id, messages, params, cancelled):
        prompt = messages[-1]["content"]
        if "Paris" not in prompt:
            return {"text": "Q: <question>\nA: <answer>", "finish_reason": "stop"}
        return {"text": "Q: What does the report2019.pdf say about France?\nA: It is big.\n"
                        "Q: Which city is the capital of Germany?\nA: Berlin, a large city.\n"
                        "Q: Which river runs through Paris?\nA: The Seine.", "finish_reason": "stop"}  # fmt: skip

    monkeypatch.setattr(generate, "chat_generate", model)
    ctx = SimpleContext(services=services, job_id="gen-bad")
    out = generate.run_generate(services, {"collection": "docs", "per_chunk": 3, "name": "strict"}, ctx)  # fmt: skip
    assert out["rows"] == 1
    assert out["rejected"] == {"invented_file_names": 1, "unsupported_answers": 1,
                               "template_placeholders": 2}  # fmt: skip
    row = DatasetLibrary(services).page("strict")["rows"][0]["row"]
    assert row["output"] == "The Seine." and row["source_file"] == "geo.pdf"
    final = [e[1] for e in ctx.events if e[0] == "progress"][-1]
    assert (
        final[0] == 1.0 and "strict: 1 rows" in final[1] and "2 template placeholders" in final[1]
    )


def test_qa_stops_at_the_count_asked_for_or_says_why_it_made_fewer(
    services, fake_collection, monkeypatch
):
    model = FakeModel()
    monkeypatch.setattr(generate, "chat_generate", model)
    ctx = SimpleContext(services=services, job_id="gen-count")
    out = generate.run_generate(services, {"collection": "docs", "per_chunk": 2, "count": 2, "name": "two"}, ctx)  # fmt: skip
    assert out["rows"] == 2 and out["steps"] == 1 and out["shortfall"] is None
    assert len(model.prompts) == 1  # stopped as soon as it had them
    ctx = SimpleContext(services=services, job_id="gen-more")
    out = generate.run_generate(services, {"collection": "docs", "per_chunk": 2, "count": 10, "name": "ten"}, ctx)  # fmt: skip
    assert out["rows"] == 3 and out["requested"] == 10
    assert out["shortfall"].startswith("made 3 of the 10 pairs asked for: the collection's 3 chunks ran out")  # fmt: skip
    assert "1 bad question length" in out["shortfall"]
    only = generate.run_generate(
        services, {"collection": "docs", "files": ["sci.txt"], "name": "sci"},
        SimpleContext(services=services, job_id="gen-files"),
    )  # fmt: skip
    rows = [r["row"] for r in DatasetLibrary(services).page("sci")["rows"]]
    assert only["steps"] == 1 and {r["source_file"] for r in rows} == {"sci.txt"}


def test_a_qa_job_is_titled_with_the_collections_name(services, fake_collection, monkeypatch):
    from engine.datasets import methods

    class Ctx:
        def __init__(self, services):
            self.services = services

    monkeypatch.setattr(generate, "chat_generate", FakeModel())
    started = methods.generate(Ctx(services), collection="c-1a2b3c", per_chunk=1)
    job = services.jobs.wait(started["job"]["id"], timeout=60)
    assert job["title"] == "Generate Q&A from Field notes"


def test_generation_cancels_and_resumes_where_it_stopped(services, fake_collection, monkeypatch):
    ctx = SimpleContext(services=services, job_id="gen2")
    model = FakeModel(ctx, cancel_after=1)
    monkeypatch.setattr(generate, "chat_generate", model)
    params = {"collection": "docs", "per_chunk": 2, "name": "resumed"}
    with pytest.raises(Cancelled) as exc:
        generate.run_generate(services, params, ctx)
    assert exc.value.partial == {"rows": 2, "done": 1, "resumable": True}
    assert DatasetLibrary(services).list() == []
    resumed = SimpleContext(services=services, job_id="gen2", attempt=2)
    model2 = FakeModel()
    monkeypatch.setattr(generate, "chat_generate", model2)
    out = generate.run_generate(services, params, resumed)
    assert len(model2.prompts) == 2 and "Paris" not in model2.prompts[0]  # chunk 1 was not redone
    assert out["rows"] == 3 and out["steps"] == 3


def test_self_instruct_expands_seeds_and_drops_near_copies(services, monkeypatch):
    model = FakeModel()
    monkeypatch.setattr(generate, "chat_generate", model)
    seeds = ["Name a colour of the sky.", {"instruction": "Add 2 and 2.", "output": "4"}]
    ctx = SimpleContext(services=services, job_id="gen3")
    out = generate.run_generate(services, {"seeds": seeds, "count": 4, "name": "si"}, ctx)
    assert out["rows"] == 4 and out["rejected"] == {"too_similar": out["steps"] - 4}
    rows = [r["row"] for r in DatasetLibrary(services).page("si")["rows"]]
    assert all(r["instruction"].startswith("List ") for r in rows)
    assert "Instruction: Add 2 and 2.\nOutput: 4" in model.prompts[0]


def test_bad_generation_requests_answer_at_once(services):
    for params, match in (
        ({}, "seed tasks"),
        ({"collection": "c", "per_chunk": 0}, "per_chunk"),
        ({"seeds": ["x"], "prompt": "no placeholder"}, "examples"),
        ({"collection": "c", "prompt": "{chunk} {oops}"}, "unknown placeholder"),
        ({"collection": "c", "files": []}, "at least one of the collection's files"),
        ({"collection": "c", "count": 0}, "count"),
    ):
        with pytest.raises(UserError, match=match):
            generate.check_params(params)


def test_generation_job_on_a_tiny_model_through_the_chat_engine(
    services, fake_collection, tmp_path_factory
):
    """The real path: data.generate job -> engine.chat generate -> transformers runtime. A random
    model writes no usable pairs, so the job fails saying so -- after asking about every chunk."""
    from tests.engine.runtimes.fixtures import tiny_hf

    folder = tiny_hf(tmp_path_factory.getbasetemp())
    model = services.library.import_model(folder, mode="reference", name="Tiny")
    try:
        job = services.jobs.start(
            "data.generate",
            {"collection": "docs", "model_id": model["id"], "per_chunk": 1,
             "params": {"max_tokens": 6, "seed": 1, "temperature": 0}},
        )  # fmt: skip
        done = services.jobs.wait(job["id"], timeout=240)
        assert done["state"] == "failed", done
        assert "wrote no usable rows (3 unparsed replies)" in done["error"]
    finally:
        services.runtimes.close()


def test_chunks_come_from_a_documents_collection(services, tmp_path):
    catalog_mod = pytest.importorskip("engine.documents.catalog")
    from engine.documents.settings import CollectionSettings

    doc = tmp_path / "notes.md"
    doc.write_text("# Rivers\n\nThe Seine flows through Paris.\n", encoding="utf-8")
    catalog = catalog_mod.Catalog(services)
    col = catalog.create("Notes", embedder_id="none", settings=CollectionSettings())
    catalog.set_file(col["id"], str(doc), name="notes.md", status="indexed")
    other = tmp_path / "other.md"
    other.write_text("# Hills\n\nMontmartre is a hill in Paris.\n", encoding="utf-8")
    catalog.set_file(col["id"], str(other), name="other.md", status="indexed")
    chunks = list(sources.chunks_source(services, "Notes", files=["notes.md"]))
    assert len(chunks) == 1 and chunks[0]["file"] == "notes.md"
    assert "The Seine flows through Paris." in chunks[0]["text"]
    assert len(list(sources.chunks_source(services, "Notes"))) == 2
    with pytest.raises(UserError, match=r"gone\.md is not an indexed file of Notes; its files: "):
        sources.chunks_source(services, "Notes", files=["gone.md"])
    with pytest.raises(UserError):
        sources.check_collection(services, "No such collection")


def test_cli_generate_says_why_it_made_fewer(hearth_home, fake_collection, monkeypatch, capsys):
    import json

    from engine.cli import main

    monkeypatch.setattr(generate, "chat_generate", FakeModel())
    args = ["data", "generate", "--collection", "docs", "--count", "10", "--files", "geo.pdf,sci.txt"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["rows"] == 3 and out["steps"] == 2
    assert out["shortfall"].startswith("made 3 of the 10 pairs asked for: the collection's 2 chunks ran out")  # fmt: skip
