"""A pruning request: what to remove, how to choose it and what to calibrate on, checked up front.

``Request.from_dict`` answers a ``UserError`` naming the field for anything missing, unknown or out
of range, before any model is loaded; the same checks serve the RPC methods, the CLI and the
wizard (which reads ``describe()`` for its choices and texts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.core.errors import UserError
from engine.pruning import calibrate, depth, width

METHODS = ("width", "depth", "attention")
ATTENTION_SELECTORS = ("cosine", "iterative", "adaptive")
SELECTORS = {"width": width.SELECTORS, "depth": depth.SELECTORS, "attention": ATTENTION_SELECTORS}
DEFAULT_SELECTOR = {"width": "activation", "depth": "influence", "attention": "cosine"}

# two sentences per method for the wizard: what it does, and when to use it
ABOUT = {
    "width": "Removes the same share of MLP neurons from every block (gate, up and down together) "
    "and refits what stays on your calibration text. Use it for a smaller model that keeps "
    "every layer: the gentlest cut for a given size, and it exports to GGUF.",
    "depth": "Removes whole decoder blocks, the ones that change the hidden state least on your "
    "calibration text. Use it for real speed-ups in every runtime; it costs more quality per "
    "parameter, so plan to recover by distillation.",
    "attention": "Makes chosen attention modules add nothing (their output projection is zeroed); "
    "the adaptive variant decides per prompt how many run. Use it to cut attention compute and "
    "KV cache in transformers; the weights stay, so the file does not shrink.",
}
SELECTOR_HELP = {
    "activation": "expected contribution on calibration text, then a least-squares refit (best)",
    "maw": "peak-to-peak weight magnitude of gate+up (optipfair's default, no data)",
    "vow": "variance of gate+up weights (no data)",
    "pon": "product of gate and up L1 norms (no data)",
    "l2": "L2 norms of gate+up (no data)",
    "l1": "L1 norms of gate+up (no data; known to break GLU models)",
    "influence": "1 - cosine between a block's input and output, per token (ShortGPT)",
    "perplexity": "loss with each block skipped alone (Shortened LLaMA; slower)",
    "last": "the last blocks (optipfair's default)",
    "first": "the first blocks",
    "layers": "the blocks you list",
    "cosine": "1 - cosine of the residual stream before/after the attention, one shot",
    "iterative": "the same, re-measured after each bypass",
    "adaptive": "per prompt: a complexity score picks how many attention modules run",
}


@dataclass
class Request:
    model_id: str
    method: str
    selector: str
    percent: float | None = None
    ratio: float | None = None
    layers: int | None = None
    layers_list: list[int] = field(default_factory=list)
    # GGUF's q8_0 and k-quants pack rows in blocks of 32 and 256: a width that is not a multiple
    # of 32 leaves the down projection in f16, and the export ends up larger than the original's
    divisor: int = 32
    refit: bool = True
    dataset: str | None = None
    file: str | None = None
    name: str | None = None
    seq_len: int = calibrate.DEFAULT_SEQ
    calibration_tokens: int = calibrate.DEFAULT_CAL_TOKENS
    eval_tokens: int = calibrate.DEFAULT_EVAL_TOKENS
    prompts: list[str] = field(default_factory=list)

    @property
    def needs_calibration(self) -> bool:
        return not (self.method == "width" and self.selector in width.STATIC) and not (
            self.method == "depth" and self.selector in ("last", "first", "layers")
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Request:
        if not isinstance(values, dict):
            raise UserError("The pruning request must be an object.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"Unknown pruning option {unknown[0]!r}; known: {', '.join(sorted(known))}.")  # fmt: skip
        v = {k: val for k, val in values.items() if val is not None}
        model_id = v.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            raise UserError("Choose the model to prune (a model id from the library).")
        method = v.get("method")
        if method not in METHODS:
            raise UserError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
        selector = v.get("selector") or DEFAULT_SELECTOR[method]
        if selector not in SELECTORS[method]:
            raise UserError(f"The {method} selectors are {', '.join(SELECTORS[method])}, not {selector!r}.")  # fmt: skip
        req = cls(model_id=model_id, method=method, selector=selector)
        if "percent" in v and isinstance(v["percent"], int | float) and v["percent"] >= 100:
            raise UserError("percent must be below 100: 100% would remove every neuron of every block.")  # fmt: skip
        req.percent = _number(v, "percent", 0.0, 100.0)
        req.ratio = _number(v, "ratio", 0.0, 1e6)
        req.layers = _int(v, "layers", 1, 100_000)
        ll = v.get("layers_list") or []
        if not isinstance(ll, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ll):  # fmt: skip
            raise UserError("layers_list must be a list of block numbers.")
        req.layers_list = list(ll)
        req.divisor = _int(v, "divisor", 1, 256) or req.divisor
        if req.divisor not in width.DIVISORS:
            raise UserError(f"divisor must be one of {', '.join(map(str, width.DIVISORS))}.")
        for flag in ("refit",):
            if flag in v:
                if not isinstance(v[flag], bool):
                    raise UserError(f"{flag} must be true or false.")
                setattr(req, flag, v[flag])
        for text in ("dataset", "file", "name"):
            if text in v:
                if not isinstance(v[text], str) or not v[text].strip():
                    raise UserError(f"{text} must be text.")
                setattr(req, text, v[text].strip())
        if req.dataset and req.file:
            raise UserError("Give a calibration dataset or a calibration file, not both.")
        req.seq_len = _int(v, "seq_len", 16, 8192) or req.seq_len
        req.calibration_tokens = _int(v, "calibration_tokens", calibrate.MIN_TOKENS, 10_000_000) or req.calibration_tokens  # fmt: skip
        req.eval_tokens = _int(v, "eval_tokens", 0, 10_000_000) if "eval_tokens" in v else req.eval_tokens  # fmt: skip
        prompts = v.get("prompts") or []
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise UserError("prompts must be a list of texts.")
        req.prompts = prompts
        if method == "width":
            if (req.percent is None) == (req.ratio is None):
                raise UserError("Width pruning needs the amount: a percentage of neurons (percent) or an expansion ratio (ratio), one of them.")  # fmt: skip
        elif method == "depth":
            if selector == "layers":
                if not req.layers_list:
                    raise UserError("List the blocks to remove (layers_list).")
            elif req.layers is None:
                raise UserError("Depth pruning needs how many blocks to remove (layers).")
        elif selector != "adaptive" and req.layers is None:
            raise UserError("Attention bypass needs how many attention modules to bypass (layers).")  # fmt: skip
        return req


def _number(v: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    if name not in v:
        return None
    x = v[name]
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise UserError(f"{name} must be a number.")
    if not lo < float(x) < hi:
        raise UserError(f"{name} must be above {lo:g} and below {hi:g}; it is {x}.")
    return float(x)


def _int(v: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    if name not in v:
        return None
    x = v[name]
    if isinstance(x, bool) or not isinstance(x, int):
        raise UserError(f"{name} must be a whole number.")
    if not lo <= x <= hi:
        raise UserError(f"{name} must be between {lo} and {hi}; it is {x}.")
    return x


def describe() -> dict[str, Any]:
    """The methods, their selectors with help, and the defaults, for the wizard."""
    return {
        "methods": [
            {"name": m, "about": ABOUT[m], "default_selector": DEFAULT_SELECTOR[m],
             "selectors": [{"name": s, "help": SELECTOR_HELP[s]} for s in SELECTORS[m]]}
            for m in METHODS
        ],
        "divisors": list(width.DIVISORS),
        "defaults": {"seq_len": calibrate.DEFAULT_SEQ, "calibration_tokens": calibrate.DEFAULT_CAL_TOKENS,
                     "eval_tokens": calibrate.DEFAULT_EVAL_TOKENS, "refit": True, "divisor": 32},
        "min_calibration_tokens": calibrate.MIN_TOKENS,
    }  # fmt: skip
