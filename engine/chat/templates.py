"""Chat templates: turn a list of messages into the prompt text a model was trained on.

A model's own Jinja template (GGUF ``tokenizer.chat_template``, or the HF tokenizer's) is used
when it has one; it runs in Jinja's immutable sandbox, so a template from a downloaded file can't
reach Python internals. A model without one -- the bundled Gemma 270M is a base model -- gets the
``plain`` transcript format ("User: ...\\nAssistant:") whose stop strings end the reply where a
turn would end. The user can pick a named template per model (``chatml``, ``llama3``, ``gemma``,
``mistral``, ``alpaca``, ``plain``); each carries its stop strings. ``auto`` (the default) means
"the model's own, else plain".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from engine.core.errors import UserError

AUTO = "auto"
MODEL = "model"  # the model's own template


@dataclass(frozen=True)
class NamedTemplate:
    name: str
    label: str
    description: str
    source: str
    stop: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "stop": list(self.stop),
            "source": self.source,
        }


_CHATML = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_LLAMA3 = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
# Gemma has no system role: the system text goes at the top of the first user turn.
_GEMMA = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{% set ns.system = ns.system + m.content | trim + '\\n\\n' %}"
    "{% elif m.role == 'user' %}"
    "{{ '<start_of_turn>user\\n' + ns.system + m.content | trim + '<end_of_turn>\\n' }}"
    "{% set ns.system = '' %}"
    "{% else %}{{ '<start_of_turn>model\\n' + m.content | trim + '<end_of_turn>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
_MISTRAL = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{% set ns.system = ns.system + m.content | trim + '\\n\\n' %}"
    "{% elif m.role == 'user' %}{{ '[INST] ' + ns.system + m.content | trim + ' [/INST]' }}"
    "{% set ns.system = '' %}"
    "{% else %}{{ ' ' + m.content | trim + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)
_ALPACA = (
    "{% if not messages or messages[0].role != 'system' %}"
    "{{ 'Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\\n\\n' }}{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content | trim + '\\n\\n' }}"
    "{% elif m.role == 'user' %}{{ '### Instruction:\\n' + m.content | trim + '\\n\\n' }}"
    "{% else %}{{ '### Response:\\n' + m.content | trim + '\\n\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)
_PLAIN = (
    "{% for m in messages %}"
    "{{ m.role | capitalize + ': ' + m.content | trim + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

TEMPLATES: dict[str, NamedTemplate] = {
    t.name: t
    for t in (
        NamedTemplate("chatml", "ChatML", "<|im_start|>role ... <|im_end|> (Qwen, many fine-tunes)",
                      _CHATML, ("<|im_end|>", "<|im_start|>")),
        NamedTemplate("llama3", "Llama 3", "<|start_header_id|>role<|end_header_id|> ... <|eot_id|>",
                      _LLAMA3, ("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>")),
        NamedTemplate("gemma", "Gemma", "<start_of_turn>user/model ... <end_of_turn>; system text joins the first user turn",
                      _GEMMA, ("<end_of_turn>", "<start_of_turn>")),
        NamedTemplate("mistral", "Mistral", "[INST] ... [/INST] reply</s>", _MISTRAL, ("</s>", "[INST]")),
        NamedTemplate("alpaca", "Alpaca", "### Instruction: / ### Response: blocks",
                      _ALPACA, ("### Instruction:", "### Response:")),
        NamedTemplate("plain", "Plain transcript", "System: / User: / Assistant: lines; for base models",
                      _PLAIN, ("\nUser:", "\nSystem:", "\nAssistant:")),
    )
}  # fmt: skip
CHOICES = (AUTO, MODEL, *TEMPLATES)
# end-of-turn markers; those a model's own template uses become stop strings for it
_KNOWN_END_MARKERS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>",
                      "</s>", "<|end_of_text|>", "<|return|>", "<|END_OF_TURN_TOKEN|>")  # fmt: skip


@dataclass(frozen=True)
class ChatTemplate:
    """The template a generation uses: ``name`` is a named template or ``"model"``."""

    name: str
    source: str
    stop: tuple[str, ...]


def check_choice(name: Any) -> str:
    if not isinstance(name, str) or name not in CHOICES:
        raise UserError(f"Unknown chat template {name!r}; choose one of {', '.join(CHOICES)}.")
    return name


def resolve(
    model: dict[str, Any], *, choice: str | None, own_template: str | None = None
) -> ChatTemplate:
    """The template for ``model``: ``choice`` (a request's or the model's setting) or auto.

    ``own_template`` is the runtime's (an HF tokenizer's) when the library has none.
    """
    choice = check_choice(choice or AUTO)
    own = model.get("chat_template") or own_template
    if choice == MODEL and not own:
        raise UserError(
            f"{model['name']} has no chat template of its own; pick a named template such as "
            "chatml or plain."
        )
    if choice in (AUTO, MODEL) and own:
        stops = tuple(m for m in _KNOWN_END_MARKERS if m in own)
        return ChatTemplate(MODEL, own, stops)
    named = TEMPLATES["plain" if choice in (AUTO, MODEL) else choice]
    return ChatTemplate(named.name, named.source, named.stop)


def render(
    template: ChatTemplate,
    messages: list[dict[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    model_name: str = "this model",
) -> str:
    """The prompt text for ``messages`` (dicts with ``role`` and ``content``)."""
    import jinja2

    compiled = compile_pattern(template.source, model_name)
    try:
        return compiled.render(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except jinja2.TemplateError as exc:
        raise UserError(_failed(model_name, exc)) from None
    except Exception as exc:  # templates are user data: any failure is theirs, not a crash
        raise UserError(_failed(model_name, exc)) from None


def _failed(model_name: str, exc: Exception) -> str:
    return (
        f"The chat template of {model_name} failed ({type(exc).__name__}: {exc}); pick a named "
        "template for this model (for example chatml or plain)."
    )


def _raise_exception(message: str) -> None:
    import jinja2

    raise jinja2.TemplateError(message)


@lru_cache(maxsize=32)
def compile_pattern(source: str, model_name: str) -> Any:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda value, indent=None: json.dumps(
        value, ensure_ascii=False, indent=indent
    )
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(_failed(model_name, exc)) from None


def templates_info() -> list[dict[str, Any]]:
    return [t.to_dict() for t in TEMPLATES.values()]
