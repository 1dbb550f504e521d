"""One chat completion: messages in, streamed reply out. The code path of ``chat.generate``,
``chat.send``, the CLI and (through Python) the local OpenAI-compatible API.

    result = generate(services, model_id=None, messages=[{"role": "user", "content": "Hi"}],
                      params={"max_tokens": 64, "seed": 1}, on_delta=print, cancelled=lambda: False)

The model is taken from the ``RuntimeManager`` (loaded on first use, kept warm), the messages are
rendered with the chosen chat template and fitted into the context window, and the reply streams
through ``on_delta`` -- the deltas always concatenate to ``result["text"]``. Cancelling is not an
error here: the result comes back with ``finish_reason == "cancelled"`` and the text so far.

JSON mode (``params.json_schema``): llama.cpp samples under a grammar built from the schema;
transformers is asked for JSON in the system prompt, and a reply that does not validate is tried
again (``json_retries`` times; ``on_reset`` tells the caller to drop the deltas of the failed
attempt). ``result["json"]`` reports the parsed value and whether it is valid.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.chat import reply
from engine.chat.context import FittedPrompt, check_messages, fit
from engine.chat.params import ChatParams
from engine.chat.remote import estimated_count, remote_reply
from engine.chat.schema import with_instruction
from engine.chat.templates import ChatTemplate, resolve
from engine.core.errors import NotFoundError, UserError
from engine.runtimes.base import Completion, Runtime

if TYPE_CHECKING:
    from engine.services import Services

OnDelta = Callable[[str], None]


def default_model_id(services: Services) -> str:
    """The user's preferred model (``prefs set default_model``) while it is usable, else the
    bundled Gemma with the starter adapter, else the bare bundled Gemma (the user removed the
    adapter), else the first chat model in the library."""
    from engine.core.preferences import Preferences

    preferred = Preferences(services).get()["default_model"]
    if preferred:
        with contextlib.suppress(NotFoundError):  # removed since: the usual default then
            if not services.library.get(preferred)["missing"]:
                return preferred
    problem = None
    try:
        bundled = services.library.ensure_bundled()
    except UserError as exc:  # e.g. a full disk while unpacking it: said below if nothing else
        bundled, problem = [], exc
    for role in ("adapter", "llm"):
        for model in bundled:
            if model["role"] == role and not model["missing"]:
                return model["id"]
    for model in services.library.list():
        if model["role"] == "llm" and not model["missing"]:
            return model["id"]
    if problem is not None:
        raise problem
    raise UserError(
        "There is no chat model in the library; import a GGUF file or a Hugging Face folder "
        "(Models > Import, or `hearth-engine models import PATH`)."
    )


def pick_template(runtime: Runtime, params: ChatParams, settings: dict[str, Any]) -> ChatTemplate:
    own = runtime.chat_template() if hasattr(runtime, "chat_template") else None
    return resolve(
        runtime.model, choice=params.template or settings.get("template"), own_template=own
    )


def prepare(
    runtime: Runtime,
    messages: list[dict[str, str]],
    params: ChatParams,
    settings: dict[str, Any],
    *,
    strict: bool = True,
) -> tuple[ChatTemplate, FittedPrompt]:
    """The template and the fitted prompt for ``messages`` on a loaded ``runtime``."""
    template = pick_template(runtime, params, settings)
    if params.json_schema is not None and runtime.name != "llama_cpp":
        messages = with_instruction(messages, params.json_schema)
    return template, fit(runtime, template, messages, max_tokens=params.max_tokens, strict=strict)


def generate(
    services: Services,
    *,
    model_id: str | None,
    messages: list[dict[str, Any]],
    params: ChatParams | dict[str, Any] | None = None,
    on_delta: OnDelta | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_reset: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Generate the assistant's reply to ``messages``; see the module docstring.

    ``on_start(info)`` is called once the prompt is ready, just before the first token is sampled,
    with ``{model_id, runtime, device, template, truncated}`` (conversations store the reply row
    then). Raises ``UserError`` for bad input (unknown model, missing file, a message that cannot
    fit, an invalid schema); never for a cancel.
    """
    chat_params = ChatParams.from_dict(params)
    clean = check_messages(messages)
    model_id = model_id or default_model_id(services)
    is_cancelled = cancelled or (lambda: False)
    emit = on_delta or (lambda _t: None)
    manager = services.runtimes
    settings = manager.settings.get(model_id)
    started = time.perf_counter()
    with manager.use(model_id) as runtime:
        ready = time.perf_counter()
        if getattr(runtime, "takes_messages", False):
            return remote_reply(runtime, clean, chat_params, emit=emit, cancelled=is_cancelled,
                                on_start=on_start, on_reset=on_reset, started=started, ready=ready)  # fmt: skip
        template, fitted = prepare(runtime, clean, chat_params, settings)
        truncated = fitted.report()
        info = {
            "model_id": model_id,
            "runtime": runtime.name,
            "device": runtime.device,
            "template": template.name,
            "truncated": truncated,
        }
        if on_start is not None:
            on_start(info)
        schema = chat_params.json_schema
        native = runtime.name == "llama_cpp"  # samples under a grammar: right the first time

        def write(sampling: ChatParams) -> Completion:
            return runtime.generate(fitted.tokens, sampling=sampling, stop=template.stop,
                                    json_schema=schema if native else None, on_text=emit,
                                    cancelled=is_cancelled)  # fmt: skip

        completion, completion_tokens, report = reply.attempts(
            write, chat_params, retries=0 if native else chat_params.json_retries, on_reset=on_reset
        )
    return reply.result(completion, completion_tokens, info, report, started=started, ready=ready)


def count_tokens(
    services: Services,
    *,
    model_id: str | None,
    messages: list[dict[str, Any]],
    params: ChatParams | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """For the context meter: tokens the prompt uses, the window, and what would be dropped."""
    chat_params = ChatParams.from_dict(params)
    clean = check_messages(messages)
    model_id = model_id or default_model_id(services)
    manager = services.runtimes
    settings = manager.settings.get(model_id)
    with manager.use(model_id) as runtime:
        if getattr(runtime, "takes_messages", False):
            return estimated_count(runtime, model_id, clean, chat_params)
        template, fitted = prepare(runtime, clean, chat_params, settings, strict=False)
    report = fitted.report()
    used = report["prompt_tokens"]
    return {
        "model_id": model_id,
        "template": template.name,
        "used": used,
        "available": report["context_length"],
        "reserved": report["reserved_tokens"],
        "fits": used <= report["context_length"] - report["reserved_tokens"],
        "truncated": report,
    }
