"""Chat templates: named templates render the formats models were trained on; model templates run
sandboxed; a model without a template falls back to the plain transcript."""

from __future__ import annotations

import pytest

from engine.chat.templates import TEMPLATES, ChatTemplate, render, resolve
from engine.core.errors import UserError

CONVO = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
]
BASE = {"name": "Base", "chat_template": None}


def named(name: str) -> str:
    return render(resolve(BASE, choice=name), CONVO, bos_token="<s>", eos_token="</s>")


EXPECTED = {
    "chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "llama3": "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "gemma": "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!"
    "<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n",
    "mistral": "<s>[INST] Be brief.\n\nHi [/INST] Hello!</s>[INST] 2+2? [/INST]",
    "alpaca": "Be brief.\n\n### Instruction:\nHi\n\n### Response:\nHello!\n\n### Instruction:\n2+2?"
    "\n\n### Response:\n",
    "plain": "System: Be brief.\nUser: Hi\nAssistant: Hello!\nUser: 2+2?\nAssistant:",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_templates_render_their_format(name):
    assert named(name) == EXPECTED[name]
    assert TEMPLATES[name].stop  # every named template ends the reply at its turn marker


def test_a_base_model_without_template_gets_the_plain_transcript():
    template = resolve(BASE, choice=None)
    assert template.name == "plain"
    assert "\nUser:" in template.stop


def test_the_models_own_template_wins_on_auto_and_gives_its_end_marker():
    model = {"name": "Chat", "chat_template": TEMPLATES["chatml"].source}
    template = resolve(model, choice="auto")
    assert template.name == "model" and template.stop == ("<|im_end|>",)
    assert resolve(model, choice="alpaca").name == "alpaca"
    with pytest.raises(UserError, match="no chat template of its own"):
        resolve(BASE, choice="model")


def test_unknown_template_name_is_a_user_error():
    with pytest.raises(UserError, match="Unknown chat template"):
        resolve(BASE, choice="vicuna-9000")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # sandbox: no Python internals
        "{{ raise_exception('Conversation roles must alternate') }}",
        "{% for m in messages %}{{ m.content ",  # syntax error
        "{{ messages.append(1) }}",  # immutable sandbox
    ],
)
def test_a_broken_or_hostile_model_template_is_a_user_error(source):
    with pytest.raises(UserError, match="pick a named template"):
        render(ChatTemplate("model", source, ()), CONVO, model_name="Evil")
