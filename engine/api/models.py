"""Which library model an API request means: by id or by name (case-insensitive); no name picks
the default (the bundled Gemma for text, the bundled all-MiniLM-L6-v2 for embeddings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.api.openai_shapes import ApiError, bad_request

if TYPE_CHECKING:
    from engine.services import Services


def listed(services: Services) -> list[dict[str, Any]]:
    """Models the API serves: chat models (LoRA adapters on their base included) and embedding
    models whose files are present."""
    return [
        m
        for m in services.library.list()
        if m["role"] in ("llm", "adapter", "embedding") and not m.get("missing")
    ]


def _find(services: Services, name: str) -> dict[str, Any] | None:
    for model in services.library.list():
        if model["id"] == name:
            return model
    for model in services.library.list():
        if (model.get("name") or "").lower() == name.lower():
            return model
    return None


def _not_found(services: Services, name: str, role: str) -> ApiError:
    roles = ("llm", "adapter") if role == "llm" else (role,)
    ids = ", ".join(m["id"] for m in listed(services) if m["role"] in roles) or "none"
    return ApiError(
        404,
        f"The model {name!r} does not exist in Hearth's library; GET /v1/models lists them "
        f"(available: {ids}).",
        code="model_not_found",
        param="model",
    )


def chat_model(services: Services, name: str | None) -> str:
    """The id of the chat model ``name`` names (None: the default one)."""
    if not name:
        from engine.chat.generate import default_model_id

        return default_model_id(services)
    model = _find(services, name)
    if model is None:
        raise _not_found(services, name, "llm")
    if model["role"] not in ("llm", "adapter"):
        raise bad_request(
            f"{model['name']} is an embedding model; use it with /v1/embeddings.", "model"
        )
    return model["id"]


def embedding_model(services: Services, name: str | None) -> dict[str, Any]:
    """The embedding model ``name`` names (None: the bundled all-MiniLM-L6-v2)."""
    if not name:
        for model in services.library.list():
            if model["role"] == "embedding" and model.get("bundled") and not model.get("missing"):
                return model
        for model in listed(services):
            if model["role"] == "embedding":
                return model
        raise ApiError(
            404,
            "There is no embedding model in Hearth's library; reinstall Hearth to restore the "
            "bundled all-MiniLM-L6-v2, or import a sentence-transformers folder.",
            code="model_not_found",
            param="model",
        )
    model = _find(services, name)
    if model is None:
        raise _not_found(services, name, "embedding")
    if model["role"] != "embedding":
        raise bad_request(
            f"{model['name']} is a chat model; /v1/embeddings takes an embedding model.", "model"
        )
    if model.get("missing"):
        raise ApiError(404, f"The files of {model['name']} are missing.", code="model_not_found")
    return model
