"""Models on OpenAI-compatible servers: adding them to the library, their API keys, and the
user's consent to send text there.

A server is a row of ``remote_servers`` (its ``.../v1`` base, where its key is kept, and when the
user agreed to send it text); each model it serves that the user added is a library entry of
format ``remote`` whose path is the base and whose ``meta.remote.model`` is the server's model id.

The API key is never stored by Hearth: it goes to the operating system's keyring (``keyring``;
service ``KEYRING_SERVICE``, user name the server's base), or the user names an environment
variable that holds it (``api_key_env``, kept as ``env:NAME``). Neither the database nor a log
line ever has the key.

Consent: nothing is sent to a server before it is confirmed. The app asks once per server before
the first request (``models.confirm_remote``); adding a server on the command line confirms it,
since the user typed its address. ``require_confirmed`` is checked on every use.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError
from engine.runtimes.remote_client import Server, api_base

if TYPE_CHECKING:
    from engine.services import Services

KEYRING_SERVICE = "Hearth model servers"
NO_KEYRING = (
    "This system has no keyring to keep the API key in (on Linux, install and unlock GNOME "
    "Keyring or KWallet). Put the key in an environment variable instead and give its name "
    "(api_key_env, or `--api-key-env VAR`)."
)


class NotConfirmed(UserError):
    """Text would go to a server the user has not agreed to send it to."""

    code = -32010


def _keyring() -> Any:
    try:
        import keyring
    except ImportError:
        raise UserError(NO_KEYRING) from None
    return keyring


def _store_key(base: str, api_key: str) -> None:
    keyring = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, base, api_key)
        kept = keyring.get_password(KEYRING_SERVICE, base) == api_key  # a null backend drops it
    except Exception:  # keyring.errors.KeyringError, or a backend's own failure
        kept = False
    if not kept:
        raise UserError(NO_KEYRING)


def _forget_key(base: str) -> None:
    try:
        _keyring().delete_password(KEYRING_SERVICE, base)
    except Exception:  # none was stored, or no keyring: nothing to forget
        pass


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip().replace("_", "").isalnum():
        raise UserError("api_key_env must be the name of an environment variable, e.g. VLLM_API_KEY.")  # fmt: skip
    name = value.strip()
    if not os.environ.get(name):
        raise UserError(f"The environment variable {name} is not set (or empty) for the engine; set it and start Hearth again.")  # fmt: skip
    return name


def _server_row(services: Services, base: str) -> Any:
    return services.db().execute("SELECT * FROM remote_servers WHERE base = ?", (base,)).fetchone()


def api_key(services: Services, base: str) -> str | None:
    """The key to send to ``base``: from the keyring or the named variable; None without one."""
    row = _server_row(services, base)
    source = row["key_source"] if row is not None else ""
    if source.startswith("env:"):
        value = os.environ.get(source[4:])
        if not value:
            raise UserError(f"The API key of {base} is read from the environment variable {source[4:]}, which is not set; set it and start Hearth again.")  # fmt: skip
        return value
    if source == "keyring":
        try:
            value = _keyring().get_password(KEYRING_SERVICE, base)
        except Exception:
            raise UserError(f"The keyring holding the API key of {base} cannot be read; unlock it, or give the key again (Models > Server key…).") from None  # fmt: skip
        if not value:
            raise UserError(f"The API key of {base} is no longer in the keyring; give it again (Models > Server key…).")  # fmt: skip
        return value
    return None


def _key_for(api_key_value: Any, api_key_env: Any) -> tuple[str | None, str]:
    """(the key to use now, how it is kept: '' | 'keyring' | 'env:NAME')."""
    if api_key_value not in (None, "") and api_key_env not in (None, ""):
        raise UserError("Give the API key or the name of the variable holding it, not both.")
    if api_key_env not in (None, ""):
        name = _env_name(api_key_env)
        return os.environ[name], f"env:{name}"
    if api_key_value not in (None, ""):
        if not isinstance(api_key_value, str) or any(c.isspace() for c in api_key_value.strip()):
            raise UserError("The API key must be one word of text.")
        return api_key_value.strip(), "keyring"
    return None, ""


def probe(services: Services, url: Any, *, api_key_value: Any = None, api_key_env: Any = None) -> dict[str, Any]:  # fmt: skip
    """What a server offers, before anything is added: ``{base, models: [{id, context_length}]}``.
    Only its model list is asked for; no user text is sent. A known server's stored key is used
    when none is given."""
    base = api_base(url)
    key, _source = _key_for(api_key_value, api_key_env)
    if key is None and _server_row(services, base) is not None:
        key = api_key(services, base)
    server = Server(base, api_key=key)
    try:
        return {"base": base, "models": server.models()}
    finally:
        server.close()


def add(
    services: Services,
    url: Any,
    *,
    model: Any = None,
    name: Any = None,
    api_key_value: Any = None,
    api_key_env: Any = None,
    confirm: bool = False,
) -> dict[str, Any]:
    """Add one model of a server to the library (the server's only model when none is named).

    The server is asked for its model list first, so a wrong address, a refused key or an empty
    server is said before anything is stored. Adding a model that is already in the library
    returns its entry (with the key updated if one was given)."""
    offered = probe(services, url, api_key_value=api_key_value, api_key_env=api_key_env)
    base, models = offered["base"], offered["models"]
    ids = [m["id"] for m in models]
    if model in (None, ""):
        if len(ids) > 1:
            raise UserError(f"{base} serves {len(ids)} models; pick one (model, or `--model`): {', '.join(ids[:20])}.")  # fmt: skip
        picked = models[0]
    else:
        if not isinstance(model, str) or model not in ids:
            raise UserError(f"{base} does not serve {model!r}; it serves: {', '.join(ids[:20])}.")
        picked = models[ids.index(model)]
    key, source = _key_for(api_key_value, api_key_env)
    if source == "keyring":
        _store_key(base, key or "")
    now = time.time()
    conn = services.db()
    row = _server_row(services, base)
    if row is None:
        conn.execute("INSERT INTO remote_servers (base, key_source, confirmed_at, added_at) VALUES (?, ?, ?, ?)",
                     (base, source, now if confirm else None, now))  # fmt: skip
    else:
        if source:
            conn.execute("UPDATE remote_servers SET key_source = ? WHERE base = ?", (source, base))
        if confirm and row["confirmed_at"] is None:
            conn.execute("UPDATE remote_servers SET confirmed_at = ? WHERE base = ?", (now, base))
    library = services.library
    for entry in library.list():
        if entry["format"] == "remote" and entry["remote"]["base"] == base and entry["remote"]["model"] == picked["id"]:  # fmt: skip
            library._changed()
            return library.get(entry["id"])
    title = name.strip() if isinstance(name, str) and name.strip() else _short_name(picked["id"])
    meta = {"format": "remote", "role": "llm", "name": title, "arch": None,
            "context_length": picked["context_length"],
            "remote": {"base": base, "model": picked["id"]}}  # fmt: skip
    model_id = library._new_id(title)
    conn.execute(
        "INSERT INTO models (id, name, format, role, path, managed, bundled, meta, torch_path, added_at)"
        " VALUES (?, ?, 'remote', 'llm', ?, 0, 0, ?, NULL, ?)",
        (model_id, title, base, json.dumps(meta), now),
    )
    library._changed()
    return library.get(model_id)


def _short_name(server_model: str) -> str:
    """A server's model id as a name: its last path part (llama.cpp's server lists file paths)."""
    tail = server_model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".gguf", ".GGUF"):
        tail = tail.removesuffix(suffix)
    return tail or server_model


def set_key(services: Services, base: Any, *, api_key_value: Any = None, api_key_env: Any = None) -> dict[str, Any]:  # fmt: skip
    """Change (or, with neither, clear) the key of a known server."""
    base = api_base(base)
    if _server_row(services, base) is None:
        raise UserError(f"{base} is not a server of the library; add one of its models first.")
    key, source = _key_for(api_key_value, api_key_env)
    if source == "keyring":
        _store_key(base, key or "")  # replaces the old entry: nothing is lost if this fails
    else:
        _forget_key(base)
    services.db().execute("UPDATE remote_servers SET key_source = ? WHERE base = ?", (source, base))
    services.library._changed()
    return server_info(services, base)


def confirm(services: Services, base: Any) -> dict[str, Any]:
    """The user agreed to send text to ``base`` (asked once per server)."""
    base = api_base(base)
    if _server_row(services, base) is None:
        raise UserError(f"{base} is not a server of the library; add one of its models first.")
    services.db().execute(
        "UPDATE remote_servers SET confirmed_at = COALESCE(confirmed_at, ?) WHERE base = ?", (time.time(), base)
    )  # fmt: skip
    services.library._changed()
    return server_info(services, base)


def server_info(services: Services, base: str) -> dict[str, Any]:
    row = _server_row(services, base)
    if row is None:
        return {"base": base, "known": False, "confirmed": False, "key": None}
    source = row["key_source"]
    return {"base": base, "known": True, "confirmed": row["confirmed_at"] is not None,
            "key": "environment" if source.startswith("env:") else (source or None),
            "key_env": source[4:] if source.startswith("env:") else None}  # fmt: skip


def require_confirmed(services: Services, model: dict[str, Any]) -> None:
    base = model["remote"]["base"]
    if not server_info(services, base)["confirmed"]:
        raise NotConfirmed(
            f"{model['name']} runs on {base}: what you send it leaves this machine. Confirm that "
            "server first (the app asks once; on the command line: `hearth-engine models "
            f"add-remote {base} --model {model['remote']['model']}` confirms it).",
            data={"base": base, "model_id": model["id"]},
        )


def require_consent(services: Services, model_ids: list[str | None]) -> None:
    """Before work that will send text to servers: each remote model's server is confirmed
    (asked up front, so a job or a stored message never waits on a question)."""
    for model_id in model_ids:
        if model_id:
            model = services.library.get(model_id)
            if model.get("format") == "remote":
                require_confirmed(services, model)


def entry_fields(services: Services, meta: dict[str, Any], stored_path: str) -> dict[str, Any]:
    """What a library entry of format ``remote`` shows instead of file facts."""
    remote = dict(meta.get("remote") or {"base": stored_path, "model": ""})
    remote.update(server_info(services, remote["base"]))
    return {"path": remote["base"], "missing": False, "remote": remote, "sends_off_machine": True}


def forget_unused(services: Services, base: str) -> None:
    """After a remote entry is removed: the server row and its key go with its last model."""
    left = services.db().execute("SELECT 1 FROM models WHERE format = 'remote' AND path = ?", (base,)).fetchone()  # fmt: skip
    if left is None:
        row = _server_row(services, base)
        if row is not None and row["key_source"] == "keyring":
            _forget_key(base)
        services.db().execute("DELETE FROM remote_servers WHERE base = ?", (base,))
