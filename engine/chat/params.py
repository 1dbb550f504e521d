"""Generation parameters of a chat request: sampling, template, JSON mode.

``ChatParams`` extends the runtimes' ``SamplingParams``; both are ``engine.core.options`` classes,
so ``describe()`` (the GUI's sampling controls, the CLI's flags) and ``from_dict`` (a request's
``params``, each problem a ``UserError`` naming the field) come from the one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.options import option
from engine.runtimes.base import SamplingParams


def _template(value: Any) -> str:
    from engine.chat.templates import check_choice

    return check_choice(value)


def _json_schema(value: Any) -> dict[str, Any]:
    from engine.chat.schema import check_schema

    return check_schema(value)


@dataclass
class ChatParams(SamplingParams):
    template: str | None = option(
        None, "chat template for this request (default: the model's setting)", check=_template
    )
    json_schema: dict[str, Any] | None = option(
        None, "JSON Schema the reply must match (JSON mode)", check=_json_schema
    )
    json_retries: int = option(
        2, "JSON mode without grammar support: extra attempts when a reply does not validate",
        range=(0, 10),
    )  # fmt: skip
