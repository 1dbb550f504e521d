"""The bundled Gemma 3 270M: width pruning at 20% with the default selector beats optipfair's
MAW statistic on held-out text (Python's reference documentation, the default calibration text,
split into a calibration part and a held-out part)."""

from __future__ import annotations

import pytest

from engine.jobs.registry import SimpleContext


@pytest.mark.slow
def test_default_width_selector_beats_maw_on_the_bundled_gemma(hearth_home, tmp_path):
    from engine.models import gguf_to_torch
    from engine.pruning import arch, measure, pipeline
    from engine.pruning.request import Request
    from engine.services import Services
    from tests.engine.runtimes.fixtures import bundled_home

    bundled_home(hearth_home)
    services = Services(hearth_home)
    try:
        gemma = next(m for m in services.library.ensure_bundled() if m["role"] == "llm")
        gguf_to_torch.convert(gemma["id"], services)
        ctx = SimpleContext(services=services)
        figures = {}
        for selector, refit in (("activation", True), ("maw", False)):
            req = Request.from_dict({"model_id": gemma["id"], "method": "width", "percent": 20,
                                     "selector": selector, "refit": refit,
                                     "calibration_tokens": 2048, "eval_tokens": 2048})  # fmt: skip
            lm, tok = pipeline.load(services, gemma, ctx)
            lay = arch.layout(lm)
            text = pipeline.load_text(services, tok, req)
            plan = pipeline.score(lm, lay, req, text, pipeline._Progress(ctx))
            pipeline.cut(lm, lay, req, plan, text, pipeline._Progress(ctx))
            figures[selector] = measure.perplexity(lm, text.held_out)[0]
        assert figures["activation"] < figures["maw"] / 5, figures
    finally:
        services.close()
