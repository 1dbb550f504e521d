"""A pruning from start to finish: load, calibrate, score, (preview or) cut, measure, save.

``preview`` stops after scoring: the per-layer scores, what would go, and the parameters and size
after, computed from the shapes. ``run`` cuts, measures the result against its parent on the same
held-out text (perplexity, tokens/s, greedy answers), saves it as a safetensors folder under the
run and adds it to the library with its lineage. The folder is written under a temporary name and
renamed when complete, so a cancelled or killed pruning leaves no half-written model anywhere the
library looks.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.core.paths import describe_os_error
from engine.pruning import arch, attention, calibrate, depth, measure, width
from engine.pruning.request import Request

if TYPE_CHECKING:
    from engine.services import Services

LINEAGE_FILE = "hearth-lineage.json"


class _Progress:
    """Maps each stage's own 0..1 onto a slice of the job's bar, and checks for cancel."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def stage(self, lo: float, hi: float, message: str) -> Any:
        self.ctx.progress(lo, message)

        def report(fraction: float) -> None:
            self.ctx.progress(lo + (hi - lo) * max(0.0, min(1.0, fraction)), message)

        return report

    def cancelled(self) -> None:
        self.ctx.check_cancelled()


def check_model(services: Services, model_id: str, *, converted: bool = True) -> dict[str, Any]:
    """The library model, or a ``UserError`` saying why torch work cannot start on it. With
    ``converted=False`` a GGUF that transformers can read is accepted before its conversion (the
    job converts it, once, with progress)."""
    model = services.library.get(model_id)
    if model.get("role") == "adapter":
        raise UserError(f"{model['name']} is a LoRA adapter; use its base model or a merged model.")  # fmt: skip
    if model.get("role") != "llm":
        raise UserError(f"{model['name']} is an embedding model; this works on chat models.")
    if model.get("missing"):
        raise UserError(f"The files of {model['name']} are missing; relink it (Models > Locate…).")
    if model["format"] == "gguf":
        from engine.models.gguf_to_torch import cache_is_valid, check_convertible, torch_folder_for

        check_convertible(model)
        folder = torch_folder_for(model, root=services.root)
        if converted and not cache_is_valid(folder, Path(model["path"])):
            raise UserError(
                f"{model['name']} is a GGUF that has not been converted to torch yet; convert it "
                "first (Models > Convert, or `hearth-engine models convert "
                f"{model['id']}`), then prune.",
                data={"convert": model["id"]},
            )
    return model


def load(services: Services, model: dict[str, Any], ctx: Any, *, tokenizer: bool = True) -> tuple[Any, Any]:  # fmt: skip
    import torch

    from engine.jobs.registry import SliceContext
    from engine.models.gguf_to_torch import load_torch_model

    torch.manual_seed(0)
    step = SliceContext(ctx, 0.0, 0.08) if ctx is not None else None  # a GGUF's first conversion
    lm, tok = load_torch_model(
        model, services=services, device="cpu", ctx=step, tokenizer=tokenizer
    )
    lm.eval()
    return lm, tok


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _bytes_per_param(lm: Any) -> int:
    return next(lm.parameters()).element_size()


def score(lm: Any, lay: arch.Layout, req: Request, text: calibrate.Text | None, prog: _Progress) -> dict[str, Any]:  # fmt: skip
    """Scores and choices, without changing the model. Returns the plan and what ``cut`` needs."""
    windows = text.calibration if text is not None else None
    report = prog.stage(0.15, 0.6, "Scoring on the calibration text")
    params_before = arch.count_params(lm)
    bpp = _bytes_per_param(lm)
    out: dict[str, Any] = {"method": req.method, "selector": req.selector, "params_before": params_before,
                           "blocks_before": lay.n_layers, "width_before": lay.intermediate_size,
                           "mlp": lay.mlp_kind}  # fmt: skip
    if req.method == "width":
        keep = width.kept_width(lay.intermediate_size, lay.hidden_size, percent=req.percent,
                                ratio=req.ratio, divisor=req.divisor)  # fmt: skip
        stats = None
        if req.selector == "activation" or req.refit:
            if windows is None:
                raise UserError("Width pruning with a refit needs calibration text.")
            stats = width.collect(lm, lay, windows, gram=req.refit, cancelled=prog.cancelled, progress=report)  # fmt: skip
        chosen = width.plan(lay, keep, req.selector, stats)
        removed = (lay.intermediate_size - keep) * lay.n_layers * arch.mlp_params_per_neuron(lay)
        out.update(width_after=keep, blocks_after=lay.n_layers, params_after=params_before - removed,
                   layers=[{"index": c["index"], "score": c["score"], "removed": c["removed"]} for c in chosen])  # fmt: skip
        out["_cut"] = (chosen, stats)
    elif req.method == "depth":
        values: list[float] | None = None
        if req.selector == "influence":
            values = depth.influence(lm, lay, windows, cancelled=prog.cancelled, progress=report)
        elif req.selector == "perplexity":
            values = depth.perplexity_scores(lm, lay, windows, cancelled=prog.cancelled, progress=report)  # fmt: skip
        chosen = depth.select(lay, values, n=req.layers, selector=req.selector,
                              layers=req.layers_list)  # fmt: skip
        per_block = arch.block_params(lay)
        out.update(width_after=lay.intermediate_size, blocks_after=lay.n_layers - len(chosen),
                   params_after=params_before - per_block * len(chosen),
                   layers=[{"index": i, "score": None if values is None else round(values[i], 6),
                            "removed": i in chosen} for i in range(lay.n_layers)])  # fmt: skip
        if lay.layer_types():
            out["layer_types"] = lay.layer_types()
        out["_cut"] = chosen
    else:
        values = attention.scores(lm, lay, windows, cancelled=prog.cancelled, progress=report)
        anchors = attention.anchors(lay)
        # iterative previews the one-shot choice; the cut re-scores after each bypass
        chosen = (
            [] if req.selector == "adaptive" else attention.choose(lay, values, req.layers or 0)
        )
        out.update(width_after=lay.intermediate_size, blocks_after=lay.n_layers, params_after=params_before,
                   layers=[{"index": i, "score": round(values[i], 6), "removed": i in chosen,
                            "protected": i in anchors} for i in range(lay.n_layers)])  # fmt: skip
        if req.selector == "adaptive":
            out["adaptive_table"] = attention.adaptive_table(lay.n_layers, params_before)
        out["_cut"] = (chosen, values)
    out["size_before_bytes"] = params_before * bpp
    out["size_after_bytes"] = out["params_after"] * bpp
    return out


def cut(lm: Any, lay: arch.Layout, req: Request, plan: dict[str, Any], text: calibrate.Text | None, prog: _Progress) -> dict[str, Any]:  # fmt: skip
    """Apply the plan to ``lm``; returns what was done (for the record)."""
    done: dict[str, Any] = {}
    if req.method == "width":
        chosen, stats = plan["_cut"]
        prog.stage(0.6, 0.65, "Removing neurons" + (" and refitting" if req.refit else ""))
        done["refit"] = width.apply(lay, chosen, stats, refit=req.refit)
        done["width"] = lay.intermediate_size
    elif req.method == "depth":
        prog.stage(0.6, 0.65, "Removing blocks")
        done["removed_blocks"] = plan["_cut"]
        done["layer_map"] = [i for i in range(lay.n_layers) if i not in set(plan["_cut"])]
        depth.apply(lay, plan["_cut"])
    else:
        chosen, values = plan["_cut"]
        if req.selector == "adaptive":
            prog.stage(0.6, 0.65, "Writing the adaptive attention table")
            done["adaptive"] = attention.make_adaptive(lay, values, plan["params_before"])
        elif req.selector == "iterative":
            report = prog.stage(0.4, 0.65, "Bypassing attention, re-measuring after each")
            chosen, _ = attention.iterative(lm, lay, text.calibration, req.layers or 0,  # type: ignore[union-attr]
                                            cancelled=prog.cancelled, progress=report)  # fmt: skip
        else:
            attention.bypass(lay, chosen)
        done["bypassed"] = chosen
        if chosen:
            plan["layers"] = [{**row, "removed": row["index"] in chosen} for row in plan["layers"]]
    return done


def public(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plan.items() if not k.startswith("_")}


def preview(services: Services, req: Request, ctx: Any) -> dict[str, Any]:
    """The ``prune.plan`` job: scores and what would go, nothing changed."""
    prog = _Progress(ctx)
    model = check_model(services, req.model_id)
    ctx.progress(0.02, f"Loading {model['name']}")
    lm, tok = load(services, model, ctx)
    lay = arch.layout(lm)
    text = load_text(services, tok, req) if req.needs_calibration or req.method == "width" else None
    plan = score(lm, lay, req, text, prog)
    if text is not None:
        plan["calibration"] = {**text.source, "tokens": text.calibration_tokens}
    ctx.progress(1.0, "Preview ready")
    return public(plan)


def load_text(services: Services, tok: Any, req: Request) -> calibrate.Text:
    return calibrate.load(services, tok, dataset=req.dataset, file=req.file, seq_len=req.seq_len,
                          calibration_tokens=req.calibration_tokens, eval_tokens=req.eval_tokens)  # fmt: skip


def figures(lm: Any, tok: Any, text: calibrate.Text, prompts: list[str], prog: _Progress, lo: float, hi: float, label: str) -> dict[str, Any]:  # fmt: skip
    prog.stage(lo, hi, f"Measuring the {label} model")
    ppl, n = measure.perplexity(lm, text.held_out, cancelled=prog.cancelled)
    tps = measure.tokens_per_s(lm, tok)
    prog.cancelled()
    answers = measure.greedy_answers(lm, tok, prompts)
    return {"ppl": ppl, "eval_tokens": n, "tokens_per_s": tps, "answers": answers}


def parent_figures(services: Services, model: dict[str, Any], req: Request, compute: Any) -> dict[str, Any]:  # fmt: skip
    """The parent's figures on this text, cached: every pruning of one model on one text
    compares with the same numbers, and the second one skips measuring the parent again."""
    import hashlib

    from engine.core.paths import atomic_write_text

    try:
        st = Path(model["path"]).stat()
        stamp = [st.st_size, st.st_mtime_ns]
        if req.file:  # an edited calibration file is another text
            stamp.append(Path(req.file).expanduser().stat().st_mtime_ns)
    except OSError:
        return compute()
    key = json.dumps([model["id"], stamp, req.dataset, req.file, req.seq_len, req.calibration_tokens,
                      req.eval_tokens, req.prompts or measure.DEFAULT_PROMPTS])  # fmt: skip
    path = Path(services.root) / "cache" / "prune-parent" / (hashlib.sha1(key.encode()).hexdigest() + ".json")  # fmt: skip
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    out = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(out))
    except OSError:
        pass  # a cache that cannot be written only costs time
    return out


def run(services: Services, run_id: str, ctx: Any) -> dict[str, Any]:
    """The ``prune.run`` job."""
    from engine.pruning.runs import PruneRunStore

    store = PruneRunStore(services)
    record = store.get(run_id)
    req = Request.from_dict(record["request"])
    prog = _Progress(ctx)
    started = time.perf_counter()
    store.update(run_id, state="running")
    folder = store.folder(run_id)
    for stale in folder.glob(".model.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    model = check_model(services, req.model_id)
    ctx.progress(0.02, f"Loading {model['name']}")
    lm, tok = load(services, model, ctx)
    lay = arch.layout(lm)
    text = load_text(services, tok, req)
    prompts = req.prompts or measure.DEFAULT_PROMPTS
    before = parent_figures(services, model, req, lambda: figures(lm, tok, text, prompts, prog, 0.05, 0.15, "original"))  # fmt: skip
    plan = score(lm, lay, req, text, prog)
    done = cut(lm, lay, req, plan, text, prog)
    _install_runtime(lm)
    after = figures(lm, tok, text, prompts, prog, 0.65, 0.85, "pruned")
    params_after = arch.count_params(lm)
    prog.stage(0.85, 0.97, "Saving the pruned model")
    lineage = {"parent_id": model["id"], "parent_name": model["name"], "method": req.method,
               "selector": req.selector, "amount": amount_text(req, plan), "run_id": run_id,
               "layer_map": done.get("layer_map")}  # fmt: skip
    final = save(lm, tok, folder, lineage, ctx)
    name = req.name or f"{model['name']} − {amount_text(req, plan)}"
    from engine.training.merge import register

    model_id = register(services, final, name, template=None)
    seconds = round(time.perf_counter() - started, 2)
    result = {
        "run_id": run_id, "model_id": model_id,
        "params_before": plan["params_before"], "params_after": params_after,
        "size_before_bytes": _torch_size(services, model), "size_after_bytes": folder_size(final),
        "ppl_before": before["ppl"], "ppl_after": after["ppl"], "eval_tokens": after["eval_tokens"],
        "tokens_per_s_before": before["tokens_per_s"], "tokens_per_s_after": after["tokens_per_s"],
        "seconds": seconds,
    }  # fmt: skip
    answers = [{"prompt": p, "before": b, "after": a}
               for p, b, a in zip(prompts, before["answers"], after["answers"], strict=True)]  # fmt: skip

    def change(r: dict[str, Any]) -> None:
        r.update(state="succeeded", plan=public(plan), done=done, result=result, answers=answers,
                 calibration={**text.source, "tokens": text.calibration_tokens,
                              "held_out_tokens": text.held_out_tokens})  # fmt: skip
        r.setdefault("artifacts", {})["model"] = str(final)
        r.setdefault("models", {})["model"] = model_id

    store.update(run_id, change)
    ctx.progress(1.0, f"Pruned: perplexity {_fmt(before['ppl'])} -> {_fmt(after['ppl'])}")
    return result


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _install_runtime(lm: Any) -> None:
    from engine.pruning import bypass

    bypass.install(lm)


def _torch_size(services: Services, model: dict[str, Any]) -> int | None:
    """The parent's size in the form the pruned model is saved in (its safetensors folder, or a
    GGUF's converted copy), so the two sizes compare like with like."""
    from engine.models.gguf_to_torch import torch_folder_for

    try:
        return folder_size(torch_folder_for(model, root=services.root))
    except OSError:
        return None


def amount_text(req: Request, plan: dict[str, Any]) -> str:
    if req.method == "width":
        share = 100 * (1 - plan["width_after"] / plan["width_before"])
        return f"width −{share:.0f}% ({plan['width_before']}→{plan['width_after']})"
    if req.method == "depth":
        n = plan["blocks_before"] - plan["blocks_after"]
        return f"depth −{n} of {plan['blocks_before']} blocks"
    if req.selector == "adaptive":
        return "adaptive attention"
    n = sum(1 for row in plan["layers"] if row["removed"])
    return f"attention −{n} of {plan['blocks_before']}"


def save(lm: Any, tok: Any, folder: Path, lineage: dict[str, Any], ctx: Any) -> Path:
    final = folder / "model"
    tmp = folder / f".model.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        lm.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1), encoding="utf-8")
        ctx.check_cancelled()
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except OSError as exc:
        raise UserError(describe_os_error(exc, f"saving the pruned model into {folder}")) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_lineage(path: Path | str) -> dict[str, Any] | None:
    p = Path(path) / LINEAGE_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
