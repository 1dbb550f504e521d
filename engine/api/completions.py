"""Raw-prompt completion for ``/v1/completions``: the prompt is tokenized as it is (no chat
template) and continued by the same runtimes, streaming and cancel as chat."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.chat import reply
from engine.chat.params import ChatParams
from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.services import Services


def complete(
    services: Services,
    *,
    model_id: str,
    prompt: str,
    params: dict[str, Any] | None = None,
    on_delta: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Continue ``prompt``; a ChatResult-shaped dict (``text``, ``finish_reason``, ``usage``...)."""
    chat_params = ChatParams.from_dict(params)
    manager = services.runtimes
    started = time.perf_counter()
    with manager.use(model_id) as runtime:
        ready = time.perf_counter()
        tokens = runtime.tokenize(prompt)
        n_ctx = runtime.context_length()
        if len(tokens) >= n_ctx:
            raise UserError(
                f"The prompt is {len(tokens)} tokens but the model is loaded with a {n_ctx}-token "
                "context; shorten it or raise the context length in the model settings."
            )
        info = {"model_id": model_id, "runtime": runtime.name, "device": runtime.device}
        if on_start is not None:
            on_start(info)
        schema = chat_params.json_schema if runtime.name == "llama_cpp" else None
        completion = runtime.generate(
            tokens,
            sampling=chat_params,
            json_schema=schema,
            on_text=on_delta,
            cancelled=cancelled,
            raw=True,
        )
    return reply.result(
        completion, completion.completion_tokens, info, None, started=started, ready=ready
    )
