"""The evaluation service: windows and perplexity (against a hand computation), each metric against
its reference library, bootstrap intervals, task runs that resume, multiple choice, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.core.errors import UserError
from engine.evaluation import metrics
from engine.evaluation.scoring import windows
from engine.jobs.registry import SimpleContext
from tests.engine.evaluation.conftest import CHOICE, QA, import_rows


# -- windows and perplexity ----------------------------------------------------------------------
def test_windows_cover_every_token_once_with_or_without_a_slide():
    ids = list(range(10))
    assert windows(ids, bos=99, seq_len=5) == [([99, 0, 1, 2, 3], 4), ([99, 4, 5, 6, 7], 4), ([99, 8, 9], 2)]  # fmt: skip
    slid = windows(ids, bos=99, seq_len=5, stride=2)
    assert slid[1] == ([99, 2, 3, 4, 5], 2)  # 4 and 5 are new; 2 and 3 are context
    assert sum(k for _w, k in slid) == 10  # every token scored exactly once
    no_bos = windows(ids, bos=None, seq_len=4)
    assert all(k <= len(w) - 1 for w, k in no_bos)
    with pytest.raises(UserError, match="shorter than one window of 64"):
        windows(ids, bos=99, seq_len=64)
    with pytest.raises(UserError, match="stride must be from 1 to 4"):
        windows(ids, bos=99, seq_len=5, stride=5)


def test_perplexity_equals_a_hand_computation_on_a_tiny_model(services, llama_id):
    import torch

    from engine.evaluation.perplexity import measure
    from engine.models.gguf_to_torch import load_torch_model
    from tests.engine.pruning.fixtures import TEXT

    for stride in (None, 16):
        got = measure(services, services.library.get(llama_id), TEXT, max_tokens=200, seq_len=48, stride=stride)  # fmt: skip
        lm, tok = load_torch_model(llama_id, services=services)
        ids = tok(TEXT[:1600], add_special_tokens=False)["input_ids"][:200]
        total, n = 0.0, 0
        for window, k in windows(ids, bos=tok.bos_token_id, seq_len=48, stride=stride):
            with torch.no_grad():
                logits = lm(input_ids=torch.tensor([window])).logits[0].double()
            logp = torch.log_softmax(logits, -1)
            for pos in range(len(window) - k, len(window)):
                total -= float(logp[pos - 1, window[pos]])
                n += 1
        assert got["tokens"] == n == 200
        assert got["ppl"] == pytest.approx(math.exp(total / n), rel=1e-4)


def test_perplexity_job_notes_models_that_tokenize_differently(services, llama_id, tmp_path):
    from engine.evaluation.perplexity import check, run
    from tests.engine.pruning.fixtures import TEXT

    text = tmp_path / "t.txt"
    text.write_text(TEXT, encoding="utf-8")
    params = check(services, [llama_id], file=str(text), dataset=None, max_tokens=128, seq_len=32)
    result = run(services, params, SimpleContext(services=services))
    assert "note" not in result and result["results"][0]["tokens"] == 128
    short = tmp_path / "short.txt"
    short.write_text("Too short.", encoding="utf-8")
    with pytest.raises(UserError, match="shorter than one window"):
        run(services, {**params, "file": str(short)}, SimpleContext(services=services))
    with pytest.raises(UserError, match="not dataset and file"):
        check(services, [llama_id], file=str(text), dataset="x", max_tokens=128, seq_len=32)


# -- metrics -------------------------------------------------------------------------------------
PREDS = ["the cat sat on the mat", "A dog barked loudly at night!", "hello there", "Paris is the capital of France", ""]  # fmt: skip
REFS = ["The cat is on the mat", "the dog barked at night", "hello", "The capital of France is Paris", "nothing"]  # fmt: skip


def test_each_metric_equals_its_reference_library():
    import sacrebleu
    from rouge_score import rouge_scorer

    rows = metrics.score_rows(["exact_match", "f1", "bleu", "chrf", "rouge"], PREDS, REFS)
    agg = metrics.aggregate(["bleu", "chrf", "rouge", "f1"], rows, PREDS, REFS)
    assert agg["bleu"]["value"] == pytest.approx(sacrebleu.corpus_bleu(PREDS, [REFS]).score, abs=1e-6)  # fmt: skip
    assert agg["chrf"]["value"] == pytest.approx(sacrebleu.corpus_chrf(PREDS, [REFS]).score, abs=1e-6)  # fmt: skip
    assert rows["bleu"] == pytest.approx([sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(PREDS, REFS, strict=True)])  # fmt: skip
    assert rows["chrf"] == pytest.approx([sacrebleu.sentence_chrf(p, [r]).score for p, r in zip(PREDS, REFS, strict=True)])  # fmt: skip
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for m in ("rouge1", "rouge2", "rougeL"):
        assert rows[m] == pytest.approx([scorer.score(r, p)[m].fmeasure for p, r in zip(PREDS, REFS, strict=True)])  # fmt: skip
    # SQuAD v1.1: case, punctuation and articles do not count; F1 on the remaining tokens
    assert metrics.exact_match("The Cat!", "cat") == 1.0
    assert rows["exact_match"] == [0.0, 0.0, 0.0, 0.0, 0.0]
    assert rows["f1"][0] == pytest.approx(
        0.75
    )  # "cat sat on mat" / "cat is on mat": 3 of 4 each way
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("x", "") == 0.0


def test_similarity_is_the_cosine_of_the_embeddings():
    vectors = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [3.0, 3.0]}
    embed = lambda texts: np.array([vectors[t] for t in texts])  # noqa: E731
    assert metrics.similarity_rows(embed, ["a", "a", "c"], ["a", "b", "a"]) == pytest.approx([1.0, 0.0, math.sqrt(0.5)])  # fmt: skip


def test_bootstrap_intervals_contain_the_estimate_and_repeat():
    rows = metrics.score_rows(["f1", "chrf"], PREDS, REFS)
    first = metrics.aggregate(["f1", "chrf"], rows, PREDS, REFS)
    for m in first.values():
        assert m["ci_low"] <= m["value"] <= m["ci_high"] and m["ci_low"] < m["ci_high"]
    assert metrics.aggregate(["f1", "chrf"], rows, PREDS, REFS) == first  # seeded
    with pytest.raises(UserError, match="Unknown metric 'meteor'"):
        metrics.expand(["meteor"])


# -- task runs -----------------------------------------------------------------------------------
def test_a_task_run_answers_scores_and_resumes_without_asking_again(services, llama_id, tmp_path, monkeypatch):  # fmt: skip
    from engine.evaluation import records, tasks
    from engine.evaluation.torch_lm import TorchModel

    import_rows(services, tmp_path, "qa", QA)
    params = tasks.check(services, models=[llama_id], dataset="qa", metrics_=["exact_match", "f1", "rouge"], max_tokens=6)  # fmt: skip
    record = records.create(services, params)
    asked: list[int] = []
    real = TorchModel.answer_batch

    def counting(self, prompts, **kw):
        asked.append(len(prompts))
        return real(self, prompts, **kw)

    monkeypatch.setattr(TorchModel, "answer_batch", counting)
    ctx = SimpleContext(services=services)
    result = tasks.run(services, {"run_id": record["run_id"]}, ctx)
    assert sum(asked) == len(QA)
    got = result["results"][0]
    assert got["rows"] == len(QA) and set(got["metrics"]) == {"exact_match", "f1", "rouge1", "rouge2", "rougeL"}  # fmt: skip
    shown = tasks.show(services, record["run_id"])
    assert len(shown["rows"]) == len(QA) and shown["rows"][0]["reference"] == "Paris"
    assert shown["rows"][3]["input"] == "Who wrote Hamlet?"

    # a kill after two answers: the third line torn, the rest never written
    path = records.runs_folder(services) / record["run_id"] / "answers-0.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10], encoding="utf-8")
    asked.clear()
    again = tasks.run(services, {"run_id": record["run_id"]}, ctx)
    assert sum(asked) == len(QA) - 2  # only the rows without a stored answer
    assert again["results"][0]["metrics"] == got["metrics"]  # greedy: the same answers


def test_task_run_bad_input_says_what_is_missing(services, llama_id, tmp_path):
    from engine.evaluation import tasks

    import_rows(
        services, tmp_path, "plain", [{"text": "Just some prose."}, {"text": "More prose."}]
    )
    with pytest.raises(UserError, match=r"holds plain text.*prompt and a reference answer"):
        tasks.check(services, models=[llama_id], dataset="plain")
    import_rows(services, tmp_path, "qa", QA)
    with pytest.raises(UserError, match=r"No split .test.|no splits"):
        tasks.check(services, models=[llama_id], dataset="qa", split="test")
    with pytest.raises(UserError, match="limit must be"):
        tasks.check(services, models=[llama_id], dataset="qa", limit=0)


# -- multiple choice -----------------------------------------------------------------------------
def test_multiple_choice_scores_choices_by_log_likelihood(services, llama_id, tmp_path):
    from engine.evaluation import choice, records
    from engine.evaluation.torch_lm import TorchModel

    import_rows(services, tmp_path, "mc", CHOICE)
    params = choice.check(services, models=[llama_id], dataset="mc")
    record = records.create(services, params, kind="choice")
    result = choice.run(services, {"run_id": record["run_id"]}, SimpleContext(services=services))
    got = result["results"][0]
    assert got["n"] == 3 and 0 <= got["accuracy"] <= 1
    # the stored log-likelihoods are the model's: recompute one by hand
    lm = TorchModel(services, services.library.get(llama_id))
    stored = records.answers(services, record["run_id"], 0)
    rows = choice.choice_rows(records.load_run(services, record["run_id"]) and [
        {"question": r["question"], "choices": r["choices"], "answer": r["answer"]} for r in CHOICE], "mc")  # fmt: skip
    assert stored[0]["logliks"] == pytest.approx(choice.loglikelihoods(lm, rows[0]["question"], rows[0]["choices"]))  # fmt: skip
    best = [int(np.argmax(stored[i]["logliks"])) == rows[i]["answer"] for i in range(3)]
    assert got["accuracy"] == pytest.approx(sum(best) / 3)


def test_multiple_choice_rows_need_question_choices_and_answer(services, tmp_path):
    from engine.evaluation.choice import choice_rows

    assert (
        choice_rows([{"question": "Q", "choices": '["x", "y"]', "answer": "B"}], "d")[0]["answer"]
        == 1
    )
    with pytest.raises(UserError, match="Row 1 of d lacks choices"):
        choice_rows([{"question": "Q", "answer": 0}], "d")
    with pytest.raises(UserError, match="answer 'z' is not one of its 2 choices"):
        choice_rows([{"question": "Q", "choices": ["x", "y"], "answer": "z"}], "d")


# -- the command line ----------------------------------------------------------------------------
def test_eval_commands_print_the_documented_shapes(services, llama_id, tmp_path, capsys):
    from engine.cli import main

    import_rows(services, tmp_path, "qa", QA)
    import_rows(services, tmp_path, "mc", CHOICE)
    capsys.readouterr()
    assert main(["eval", "run", "--model", llama_id, "--dataset", "qa", "--metrics", "exact_match,bleu",
                 "--max-tokens", "4", "--json"]) == 0  # fmt: skip
    run = json.loads(capsys.readouterr().out)
    assert set(run) == {"run_id", "results"}
    assert set(run["results"][0]["metrics"]["bleu"]) == {"value", "ci_low", "ci_high"}
    assert main(["eval", "show", run["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"model_id", "input", "reference", "prediction", "scores"} <= set(shown["rows"][0])
    assert main(["eval", "choice", "--model", llama_id, "--dataset", "mc", "--json"]) == 0
    mc = json.loads(capsys.readouterr().out)
    assert set(mc["results"][0]) == {"model_id", "accuracy", "accuracy_norm", "n"}
    assert main(["eval", "list", "--json"]) == 0
    assert {r["run_id"] for r in json.loads(capsys.readouterr().out)["runs"]} == {run["run_id"], mc["run_id"]}  # fmt: skip
    out = tmp_path / "rows.csv"
    assert main(["eval", "export", run["run_id"], str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == "row,model_id,input,reference,prediction,bleu,exact_match"  # fmt: skip
    assert main(["eval", "run", "--model", llama_id, "--dataset", "qa", "--metrics", "meteor"]) == 2
    assert "Unknown metric" in capsys.readouterr().err


# -- the bundled model ---------------------------------------------------------------------------
@pytest.mark.slow
def test_gguf_and_its_torch_conversion_agree_on_perplexity(hearth_home, tmp_path):
    """The bundled Gemma through llama.cpp and through transformers (its cached conversion), on
    the same text: within 2%, over the same number of tokens."""
    from engine.evaluation.perplexity import measure
    from engine.evaluation.texts import default_text
    from engine.models import gguf_to_torch
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    services = Services(hearth_home)
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        gguf_to_torch.convert(gemma["id"], services)
        torch_model = services.library.import_model(gguf_to_torch.torch_folder_for(gemma, root=services.root),
                                                    mode="reference", name="Gemma torch")  # fmt: skip
        text = default_text()[50_000:70_000]
        g = measure(services, gemma, text, max_tokens=1024, seq_len=256)
        t = measure(services, torch_model, text, max_tokens=1024, seq_len=256)
        # a model with another tokenizer is measured too, with a note that says so
        from engine.evaluation.perplexity import check, run
        from tests.engine.pruning.fixtures import build

        tiny = services.library.import_model(build(tmp_path / "tiny", "llama", layers=2), mode="reference", name="Tiny")  # fmt: skip
        file = tmp_path / "t.txt"
        file.write_text(text, encoding="utf-8")
        params = check(services, [gemma["id"], tiny["id"]], file=str(file), dataset=None, max_tokens=256, seq_len=64)  # fmt: skip
        mixed = run(services, params, SimpleContext(services=services))
    finally:
        services.close()
    assert "not comparable token for token" in mixed["note"] and len(mixed["results"]) == 2
    assert g["runtime"] == "llama_cpp" and t["runtime"] == "transformers"
    assert g["tokens"] == t["tokens"] and g["tokenizer"] == t["tokenizer"]
    assert abs(g["ppl"] - t["ppl"]) / t["ppl"] < 0.02, (g, t)


# -- the judge -----------------------------------------------------------------------------------
def test_judge_replies_are_parsed_or_counted_as_unparsed():
    from engine.evaluation.judge import combine, parse_rating, parse_verdict

    assert parse_rating("Rating: [[8]] because it is right.") == 8
    assert parse_rating("I would say rating: 10.") == 10
    assert parse_rating("[[eleven]] maybe 7 out of 10") is None
    assert parse_verdict("[[B]] is clearer.") == "B" and parse_verdict("[[A]] or [[B]]") is None
    assert parse_verdict("Answer A, I think.") is None
    # the same answer wins in both orders: a win; "A" both times: the judge follows position
    assert combine("A", "B") == "a" and combine("B", "A") == "b" and combine("C", "C") == "tie"
    assert combine("A", "A") == "inconsistent" and combine(None, "A") == "unparsed"


def test_a_judged_run_rates_answers_and_asks_each_pair_both_ways(services, llama_id, gpt2_id, tmp_path, monkeypatch):  # fmt: skip
    from engine.evaluation import records, tasks
    from engine.evaluation.torch_lm import TorchModel

    import_rows(services, tmp_path, "qa", QA)
    real = TorchModel.answer_batch
    asked = {"rubric": 0, "pair": 0}

    def scripted(self, prompts, **kw):
        texts = [self.detokenize(p) for p in prompts]
        if not any("Answer to rate" in t or "Answer A:" in t for t in texts):
            return real(self, prompts, **kw)  # the models' own answers
        out = []
        for t in texts:
            if "Answer to rate" in t:  # a rating for the Paris row only, the rest unreadable
                asked["rubric"] += 1
                out.append(
                    ("[[9]] correct" if "capital of France" in t else "hard to say", "stop", 3)
                )
            else:  # a judge that always prefers the first answer it reads
                asked["pair"] += 1
                out.append(("[[A]] reads better", "stop", 3))
        return out

    monkeypatch.setattr(TorchModel, "answer_batch", scripted)
    params = tasks.check(services, models=[llama_id, gpt2_id], dataset="qa", metrics_=["f1"],
                         max_tokens=4, judge=llama_id)  # fmt: skip
    record = records.create(services, params)
    result = tasks.run(services, {"run_id": record["run_id"]}, SimpleContext(services=services))
    assert asked == {"rubric": 2 * len(QA), "pair": 2 * len(QA)}  # one pair, both orders
    for r in result["results"]:
        assert r["metrics"]["judge"]["value"] == 9.0 and r["judge_unparsed"] == len(QA) - 1
    (pair,) = result["pairwise"]
    assert pair["inconsistent"] == len(QA) and pair["wins_a"] == pair["wins_b"] == 0
    assert pair["agreement"] == 0.0
    shown = tasks.show(services, record["run_id"])
    assert shown["rows"][0]["scores"]["judge"] == 9.0 and "judge" not in shown["rows"][1]["scores"]


# -- the arena -----------------------------------------------------------------------------------
def test_elo_and_bradley_terry_from_votes_by_hand():
    from engine.evaluation.arena import bradley_terry, elo, outcomes

    # model 0 beats 1 twice; one three-way tie
    votes = [{"ts": 1, "shown": [1, 0], "winner": 0}, {"ts": 2, "shown": [0, 1], "winner": 0},
             {"ts": 3, "shown": [2, 0, 1], "winner": None}]  # fmt: skip
    pairs = outcomes(votes, 3)
    assert pairs[:2] == [(0, 1, 1.0), (0, 1, 1.0)] and sorted(pairs[2:]) == [(0, 1, 0.5), (2, 0, 0.5), (2, 1, 0.5)]  # fmt: skip
    r = [1000.0, 1000.0, 1000.0]
    for i, j, s in pairs:  # Elo by hand, K = 32
        e = 1 / (1 + 10 ** ((r[j] - r[i]) / 400))
        r[i], r[j] = r[i] + 32 * (s - e), r[j] - 32 * (s - e)
    assert elo(pairs, 3) == pytest.approx(r)
    bt = bradley_terry(pairs, 3)
    assert bt[0] > bt[2] > bt[1] and sum(bt) / 3 == pytest.approx(1000, abs=60)


def test_arena_answers_blind_votes_results_and_a_preference_dataset(services, llama_id, gpt2_id, tmp_path):  # fmt: skip
    from engine.datasets.library import DatasetLibrary
    from engine.evaluation import arena, records

    params = arena.check(services, models=[llama_id, gpt2_id], prompts=["Say hi.", "Name a fruit.", "Count to three."],
                         max_tokens=4)  # fmt: skip
    record = records.create(services, params, kind="arena")
    arena.run(services, {"run_id": record["run_id"]}, SimpleContext(services=services))
    first = arena.next_prompt(services, record["run_id"])
    assert first["index"] == 0 and first["slots"] == ["A", "B"] and first["remaining"] == 2
    order = arena._order(record["run_id"], 0, 2)
    stored = [records.answers(services, record["run_id"], m)[0]["prediction"] for m in range(2)]
    assert first["answers"] == [stored[m] for m in order]  # blind, but the same answers
    arena.vote(services, record["run_id"], 0, "A")  # the model shown first
    arena.vote(services, record["run_id"], 1, "tie")
    arena.vote(services, record["run_id"], 1, "B")  # a second vote replaces the first
    board = arena.results(services, record["run_id"])
    assert board["votes"] == 2
    by_id = {r["model_id"]: r for r in board["models"]}
    winner0 = [llama_id, gpt2_id][order[0]]
    assert by_id[winner0]["wins"] >= 1 and sum(r["wins"] for r in board["models"]) == 2
    made = arena.export(services, record["run_id"], "prefs")
    assert made["rows"] == 2 and made["name"] == "prefs"
    rows = DatasetLibrary(services).page("prefs")["rows"]
    assert rows[0]["row"]["prompt"] == "Say hi." and rows[0]["row"]["chosen_model"] == winner0
    assert rows[0]["row"]["chosen"] == stored[order[0]]
    with pytest.raises(UserError, match="two to four"):
        arena.check(services, models=[llama_id], prompts=["x"])
    with pytest.raises(UserError, match="choice must be one of A, B, tie"):
        arena.vote(services, record["run_id"], 2, "C")


# -- lm-evaluation-harness -----------------------------------------------------------------------
def test_harness_is_optional_offline_and_reports_intervals(services, llama_id, monkeypatch):
    import os
    import sys
    import types

    from engine.evaluation import harness, records

    monkeypatch.setattr(harness, "available", lambda: False)
    with pytest.raises(UserError, match="pip install lm-eval"):
        harness.check(services, models=[llama_id], tasks=["arc_easy"])
    monkeypatch.setattr(harness, "available", lambda: True)
    calls = []

    def simple_evaluate(**kw):  # the harness's entry point, as its documentation describes it
        calls.append({**kw, "offline": os.environ.get("HF_DATASETS_OFFLINE")})
        if kw["tasks"] == ["missing_task"]:
            raise ConnectionError("Couldn't reach the Hub: offline mode is enabled")
        return {"results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.05,
                                         "acc_norm,none": 0.6, "acc_norm_stderr,none": 0.1}}}  # fmt: skip

    monkeypatch.setitem(
        sys.modules, "lm_eval", types.SimpleNamespace(simple_evaluate=simple_evaluate)
    )
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    ctx = SimpleContext(services=services)
    params = harness.check(services, models=[llama_id], tasks=["arc_easy"], limit=10)
    record = records.create(services, params, kind="harness")
    result = harness.run(services, {"run_id": record["run_id"]}, ctx)
    got = result["results"][0]["metrics"]
    assert got["acc"] == {
        "value": 0.5,
        "ci_low": pytest.approx(0.402),
        "ci_high": pytest.approx(0.598),
    }
    assert got["acc_norm"]["value"] == 0.6
    assert calls[0]["model"] == "hf" and calls[0]["limit"] == 10 and calls[0]["offline"] == "1"
    assert calls[0]["model_args"]["pretrained"] == services.library.get(llama_id)["path"]
    missing = records.create(services, harness.check(services, models=[llama_id], tasks=["missing_task"]), kind="harness")  # fmt: skip
    with pytest.raises(UserError, match="not on this machine"):
        harness.run(services, {"run_id": missing["run_id"]}, ctx)


@pytest.mark.slow
def test_batched_gguf_answers_do_not_depend_on_their_neighbours(hearth_home, tmp_path):
    """The bundled Gemma answering four prompts in one llama.cpp batch: each sequence keeps its
    own cache, so reversing the batch gives every prompt the same answer; answers stop at the
    template's end or the budget."""
    from engine.evaluation.answering import _prompt_tokens
    from engine.evaluation.gguf import GgufModel
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    services = Services(hearth_home)
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        lm = GgufModel(gemma, scoring=False)
        try:
            questions = ["What is the capital of France?", "Name a primary colour.",
                         "What is 2 + 2?", "Which animal says moo?"]  # fmt: skip
            prompts = [
                _prompt_tokens(lm, gemma, [{"role": "user", "content": q}]) for q in questions
            ]
            stop = prompts[0][1]
            forward = lm.answer_batch([p for p, _s in prompts], max_tokens=24, stop=stop)
            backward = lm.answer_batch([p for p, _s in prompts][::-1], max_tokens=24, stop=stop)[
                ::-1
            ]
        finally:
            lm.close()
    finally:
        services.close()
    assert forward == backward
    assert all(finish in ("stop", "length") and 0 < n <= 24 for _t, finish, n in forward)


def test_a_model_on_a_server_is_evaluated_and_judges(services, tmp_path):
    """A task run and its judge with models on an OpenAI-compatible server: the answers come
    from the server (a few requests at a time), are scored, and the judge's ratings are read."""

    from engine.evaluation import records, tasks
    from engine.models import remote
    from tests.engine.runtimes.servers import Scripted, models_route, stream_route

    answers = {r["instruction"]: r["output"] for r in QA}
    server = Scripted()

    def reply(h):
        asked = json.loads(h.body)["messages"][-1]["content"]
        if "Answer to rate" in asked:
            text = "[[8]]"
        elif "Answer A:" in asked:
            text = "[[C]] both fine"
        else:
            text = next((a for q, a in answers.items() if q in asked), "no idea")
        stream_route([text])(h)

    server.routes[("GET", "/v1/models")] = models_route(["answerer"])
    server.routes[("POST", "/v1/chat/completions")] = reply
    try:
        model = remote.add(services, server.url, confirm=True)
        import_rows(services, tmp_path, "qa", QA)
        with pytest.raises(UserError, match="not the token probabilities"):
            from engine.evaluation import choice

            choice.check(services, models=[model["id"]], dataset="qa")
        params = tasks.check(services, models=[model["id"]], dataset="qa", metrics_=["exact_match"],
                             max_tokens=8, judge=model["id"])  # fmt: skip
        record = records.create(services, params)
        result = tasks.run(services, {"run_id": record["run_id"]}, SimpleContext(services=services))
    finally:
        server.stop()
    (got,) = result["results"]
    assert got["metrics"]["exact_match"]["value"] == 1.0 and got["metrics"]["judge"]["value"] == 8.0
    assert server.chat_hits() == 2 * len(QA)  # each answer once, each rating once


def test_cancelling_a_run_on_a_server_leaves_the_rest_unsent(services, tmp_path):
    from engine.core.errors import Cancelled
    from engine.evaluation import records, tasks
    from engine.models import remote
    from tests.engine.runtimes.servers import Scripted, models_route, stream_route

    rows = [{"instruction": f"Question {i}?", "output": f"answer {i}"} for i in range(12)]
    server = Scripted()
    server.routes[("GET", "/v1/models")] = models_route(["answerer"])
    server.routes[("POST", "/v1/chat/completions")] = stream_route(["an answer"])

    class CancelAtFirstAnswer(SimpleContext):
        def progress(self, fraction, message=None):
            super().progress(fraction, message)
            if message and " of 12 " in message:
                self.cancel_flag = True

    try:
        model = remote.add(services, server.url, confirm=True)
        import_rows(services, tmp_path, "many", rows)
        params = tasks.check(services, models=[model["id"]], dataset="many", metrics_=["exact_match"], max_tokens=8)  # fmt: skip
        record = records.create(services, params)
        with pytest.raises(Cancelled):
            tasks.run(
                services, {"run_id": record["run_id"]}, CancelAtFirstAnswer(services=services)
            )
    finally:
        server.stop()
    assert server.chat_hits() == 4  # the requests in flight, not the eight after them
