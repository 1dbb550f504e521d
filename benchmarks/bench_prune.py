"""Pruning quality and speed: Hearth's pruner against optipfair 0.4.2, side by side in one run.

Model: the bundled Gemma 3 270M (its GGUF converted once to a torch folder). Text: Debian's
``python3.11-doc`` (installed by this script with apt-get when missing): every pruning calibrates
on the Python tutorial (``_sources/tutorial``) and every model is measured on the HOWTOs
(``_sources/howto``), text neither side saw. Perplexity is the same function for everything:
8,192 held-out tokens in windows of 256.

- Width at 10%, 20% and 40% of MLP neurons: optipfair's ``prune_model(model, pruning_type="MLP_GLU",
  neuron_selection_method="MAW", pruning_percentage=P)`` against Hearth's default (activation
  selector + least-squares refit). Targets: Hearth <= 1/5 of optipfair's perplexity at each
  setting; at 20%, <= 2.0x the unpruned model's.
- Depth, 2 and 4 blocks: optipfair's ``prune_model(..., pruning_type="DEPTH",
  num_layers_to_remove=N)`` (the last N) against Hearth's default (block influence) and its
  perplexity criterion. Target: <= 1/5 of optipfair's.
- Time of a pruning (load, calibration, scoring, cut) and of a whole ``prune.run`` job (also
  measuring the parent and the result): target under 60 s.
- GGUF: each Hearth result exported (q8_0 and f16) must agree with torch's greedy next token on
  >= 99% of 1,024 positions (longer than Gemma's 512-token sliding window); tokens/s in
  llama.cpp against the unpruned model exported the same way.
- Distillation of the 20% width result (the parent as teacher, on the tutorial text, full
  fine-tuning at learning rate 1e-4, batch 4 x 256 tokens, ``--recover-steps``) within
  ``--recover-minutes``: target, at least half the perplexity lost is won back.

    .venv/bin/python benchmarks/bench_prune.py [--json] [--skip-recover] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_env
from python_docs import ensure_docs, read_dir
from scratch import scratch_dir

OPTIPFAIR = "optipfair==0.4.2"
SEQ = 256
EVAL_TOKENS = 8192
CAL_TOKENS = 8192


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", help="data folder (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-recover", action="store_true")
    ap.add_argument("--recover-minutes", type=float, default=10.0)
    ap.add_argument("--recover-steps", type=int, default=40)
    ap.add_argument("--recover-method", choices=("full", "lora"), default="full")
    ap.add_argument("--recover-lr", type=float, default=1e-4)
    ap.add_argument("--recover-batch", type=int, default=4)
    ap.add_argument("--recover-seq", type=int, default=256)
    ap.add_argument(
        "--only-recover", action="store_true", help="reuse --home's width 20%% pruning; only distil"
    )
    args = ap.parse_args()

    ensure_docs()
    home = Path(args.home or str(scratch_dir(prefix="hearth-bench-prune-")))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HEARTH_HOME"] = str(home)
    reference_env.ensure(OPTIPFAIR, "optipfair")

    import torch

    from engine.jobs.registry import SimpleContext
    from engine.models import gguf_to_torch
    from engine.pruning import arch, calibrate, measure, pipeline
    from engine.pruning.request import Request
    from engine.pruning.runs import PruneRunStore
    from engine.services import Services

    torch.manual_seed(0)
    services = Services(home)
    gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
    gguf_to_torch.convert(gemma["id"], services)
    folder = Path(gguf_to_torch.torch_folder_for(gemma, root=home))
    cal_file = home / "tutorial.txt"
    cal_file.write_text(read_dir("tutorial"), encoding="utf-8")
    eval_text = read_dir("howto")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    held = calibrate.windows(tok, eval_text, seq_len=SEQ, max_tokens=EVAL_TOKENS)

    def fresh() -> Any:
        lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        return lm.eval()

    def ppl(lm: Any) -> float:
        value, _n = measure.perplexity(lm, held)
        return round(float(value), 3)

    if args.only_recover:
        held_only = held

        def ppl_only(lm: Any) -> float:
            value, _n = measure.perplexity(lm, held_only)
            return round(float(value), 3)

        result = {"ppl_unpruned": ppl_only(fresh()),
                  "recovery": recover(services, PruneRunStore(services), gemma, cal_file, held, args, ppl_only)}  # fmt: skip
        services.close()
        print(json.dumps(result, indent=1))
        return 0
    out: dict[str, Any] = {"model": gemma["name"], "eval_tokens": int(held.numel()), "calibration": "python3.11-doc tutorial", "measured_on": "python3.11-doc howto"}  # fmt: skip
    base = fresh()
    out["ppl_unpruned"] = ppl(base)
    out["params_unpruned"] = arch.count_params(base)
    del base
    print(f"unpruned: ppl {out['ppl_unpruned']}", file=sys.stderr)

    ctx = SimpleContext(services=services)

    def hearth(request: dict[str, Any]) -> tuple[Any, float]:
        """A pruning as the job does it (load, calibrate, score, cut); the model and the seconds."""
        req = Request.from_dict({"model_id": gemma["id"], "file": str(cal_file), "seq_len": SEQ,
                                 "calibration_tokens": CAL_TOKENS, "eval_tokens": 0, **request})  # fmt: skip
        start = time.perf_counter()
        lm, tk = pipeline.load(services, gemma, ctx)
        lay = arch.layout(lm)
        text = pipeline.load_text(services, tk, req)
        plan = pipeline.score(lm, lay, req, text, pipeline._Progress(ctx))
        pipeline.cut(lm, lay, req, plan, text, pipeline._Progress(ctx))
        return lm, round(time.perf_counter() - start, 2)

    from optipfair import prune_model

    rows = []
    for pct in (10, 20, 40):
        ref = prune_model(fresh(), pruning_type="MLP_GLU", neuron_selection_method="MAW", pruning_percentage=pct, show_progress=False)  # fmt: skip
        ref_ppl = ppl(ref)
        del ref
        ours, seconds = hearth({"method": "width", "percent": pct})
        row = {"setting": f"width {pct}%", "optipfair_ppl": ref_ppl, "hearth_ppl": ppl(ours),
               "params": arch.count_params(ours), "hearth_seconds": seconds}  # fmt: skip
        plain, _s = hearth({"method": "width", "percent": pct, "refit": False})
        row["hearth_no_refit_ppl"] = ppl(plain)
        del plain
        row["ratio"] = round(row["hearth_ppl"] / ref_ppl, 4)
        rows.append(row)
        print(row, file=sys.stderr)
        del ours
    for n in (2, 4):
        ref = prune_model(
            fresh(), pruning_type="DEPTH", num_layers_to_remove=n, show_progress=False
        )
        ref_ppl = ppl(ref)
        del ref
        ours, seconds = hearth({"method": "depth", "layers": n})
        row = {"setting": f"depth {n} blocks", "optipfair_ppl": ref_ppl, "hearth_ppl": ppl(ours),
               "params": arch.count_params(ours), "hearth_seconds": seconds}  # fmt: skip
        del ours
        for label, extra in (("hearth_perplexity_criterion_ppl", {"selector": "perplexity"}),):
            other, _s = hearth({"method": "depth", "layers": n, **extra})
            row[label] = ppl(other)
            del other
        row["ratio"] = round(row["hearth_ppl"] / ref_ppl, 4)
        rows.append(row)
        print(row, file=sys.stderr)
    out["rows"] = rows

    # a whole prune.run job (measuring the parent and the result too), then the GGUF checks
    store = PruneRunStore(services)
    gguf_rows = []
    job_seconds = {}
    from engine.pruning import export as gguf_export
    from engine.pruning.measure import llama_tokens_per_s
    from engine.training.export_gguf import export_model

    parent_q8 = home / "parent-q8_0.gguf"
    export_model(folder, parent_q8, quant="q8_0", base_gguf=Path(gemma["path"]))
    text_1024 = tok(eval_text[-20000:], add_special_tokens=True).input_ids[:1024]
    for request in ({"method": "width", "percent": 20}, {"method": "width", "percent": 40},
                    {"method": "depth", "layers": 2}, {"method": "depth", "layers": 4}):  # fmt: skip
        req = Request.from_dict({"model_id": gemma["id"], "file": str(cal_file), "seq_len": SEQ, **request})  # fmt: skip
        run = store.create({"name": "bench", "request": req.to_dict(), "model_id": gemma["id"]})
        start = time.perf_counter()
        result = pipeline.run(services, run["id"], ctx)
        label = f"{request['method']} {request.get('percent') or request.get('layers')}"
        job_seconds[label] = round(time.perf_counter() - start, 2)
        model = services.library.get(result["model_id"])
        lm = AutoModelForCausalLM.from_pretrained(model["path"], dtype=torch.float32).eval()
        with torch.no_grad():
            want = lm(torch.tensor([text_1024])).logits[0].argmax(-1).numpy()
        del lm
        row = {"model": label}
        for quant in ("q8_0", "f16"):
            got = gguf_export.run(services, {"model_id": model["id"], "quant": quant}, ctx)
            agree = (llama_tokens(got["path"], text_1024) == want).mean()
            row[f"agree_{quant}"] = round(float(agree), 4)
            if quant == "q8_0":
                row["llama_tps_pruned"] = llama_tokens_per_s(got["path"])
                row["llama_tps_parent"] = llama_tokens_per_s(str(parent_q8))
                row["size_q8_0"] = Path(got["path"]).stat().st_size
        row["parent_size_q8_0"] = parent_q8.stat().st_size
        gguf_rows.append(row)
        print(row, file=sys.stderr)
    out["job_seconds"] = job_seconds
    out["gguf"] = gguf_rows

    if not args.skip_recover:
        out["recovery"] = recover(services, store, gemma, cal_file, held, args, ppl)
    services.close()
    report(out, args.json)
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def recover(services: Any, store: Any, gemma: dict[str, Any], cal_file: Path, held: Any, args: Any, ppl: Any) -> dict[str, Any]:  # fmt: skip
    """Distil the parent into the 20% width result for a bounded number of steps and minutes."""
    from transformers import AutoModelForCausalLM

    from engine.jobs.registry import SimpleContext
    from engine.pruning import recover as rec
    from engine.training.trainer import LoraTrainer

    width20 = next(r for r in store.list() if r["request"]["method"] == "width" and r["request"].get("percent") == 20)  # fmt: skip
    student = services.library.get(width20["models"]["model"])
    before = ppl(AutoModelForCausalLM.from_pretrained(student["path"]).eval())
    started = rec.create(services, width20["id"], file=str(cal_file), max_steps=args.recover_steps,
                         method=args.recover_method,
                         options={"eval_every": 0, "save_every": 0, "eval_rows": 8, "learning_rate": args.recover_lr,
                                  "batch_size": args.recover_batch, "seq_len": args.recover_seq})  # fmt: skip
    deadline = time.monotonic() + args.recover_minutes * 60

    class Deadline(SimpleContext):
        def cancelled(self) -> bool:
            return time.monotonic() > deadline

        def check_cancelled(self, partial: Any = None) -> None:
            return None

    ctx = Deadline(services=services, params={"run_id": started["run"]["id"]})
    t0 = time.perf_counter()
    from engine.core.errors import Cancelled

    try:
        LoraTrainer(services, started["run"]["id"], ctx).train()
        finished = True
    except Cancelled:
        finished = False
    seconds = round(time.perf_counter() - t0, 1)
    from engine.training.runs import RunStore

    run = RunStore(services).get(started["run"]["id"])
    if not finished:  # stopped by the deadline: the last checkpoint is the result
        return {"finished": False, "seconds": seconds, "note": "the deadline ended the run first"}
    model_id = run["models"].get("model") or run["models"].get("merged")
    after = ppl(AutoModelForCausalLM.from_pretrained(services.library.get(model_id)["path"]).eval())
    return {"steps": run["summary"]["steps"], "seconds": seconds, "ppl_pruned": before, "ppl_recovered": after}  # fmt: skip


def llama_tokens(path: str, ids: list[int]) -> Any:
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=len(ids) + 16, n_batch=512, logits_all=True, verbose=False)  # fmt: skip
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)]).argmax(1)
    llm.close()
    return out


def report(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['model']}: unpruned perplexity {out['ppl_unpruned']} on {out['eval_tokens']} tokens of {out['measured_on']}")  # fmt: skip
    print(f"{'setting':18} {'optipfair':>10} {'hearth':>9} {'ratio':>7}  other")
    for r in out["rows"]:
        other = {k: v for k, v in r.items() if k.startswith("hearth_") and k not in ("hearth_ppl", "hearth_seconds")}  # fmt: skip
        print(f"{r['setting']:18} {r['optipfair_ppl']:>10.2f} {r['hearth_ppl']:>9.2f} {r['ratio']:>7.3f}  {other}  ({r['hearth_seconds']} s)")  # fmt: skip
    w20 = next(r for r in out["rows"] if r["setting"] == "width 20%")
    print(f"width 20% vs unpruned: {w20['hearth_ppl'] / out['ppl_unpruned']:.3f}x (target <= 2.0x)")
    print(f"whole prune.run jobs (s): {out['job_seconds']}")
    for g in out["gguf"]:
        print(f"GGUF {g['model']}: agree q8_0 {g['agree_q8_0']:.4f}, f16 {g['agree_f16']:.4f}; llama.cpp tokens/s {g['llama_tps_parent']} -> {g['llama_tps_pruned']}")  # fmt: skip
    if "recovery" in out:
        r = out["recovery"]
        if r.get("ppl_recovered"):
            lost = r["ppl_pruned"] - out["ppl_unpruned"]
            won = r["ppl_pruned"] - r["ppl_recovered"]
            print(f"distillation: {r['steps']} steps in {r['seconds']} s: {r['ppl_pruned']} -> {r['ppl_recovered']} ({won / lost:.0%} of the loss won back; target >= 50%)")  # fmt: skip
        else:
            print(f"distillation: {r}")


if __name__ == "__main__":
    raise SystemExit(main())
