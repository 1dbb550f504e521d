"""Preferences the engine applies: the default chat model and CPU threads, by RPC and CLI."""

from __future__ import annotations

import json

import pytest

import engine.cli as cli
from engine.chat.generate import default_model_id
from engine.core.errors import NotFoundError, UserError
from engine.core.preferences import Preferences
from engine.runtimes.manager import RuntimeManager
from engine.services import Services
from tests.engine.models.conftest import write_gguf, write_hf_folder


@pytest.fixture
def services(hearth_home):
    svc = Services(hearth_home)
    yield svc
    svc.close()


def test_the_preferred_model_is_the_default_while_it_is_there(services, tmp_path, monkeypatch):
    monkeypatch.setattr(services.library, "ensure_bundled", lambda **_k: [])  # no bundled models
    first = services.library.import_model(write_gguf(tmp_path / "a.gguf"), name="First")
    second = services.library.import_model(write_gguf(tmp_path / "b.gguf"), name="Second")
    prefs = Preferences(services)
    assert prefs.get() == {"default_model": None, "threads": None}
    assert default_model_id(services) == first["id"]
    assert prefs.update({"default_model": second["id"]})["default_model"] == second["id"]
    assert default_model_id(services) == second["id"]
    services.library.remove(second["id"])  # gone: the usual default, no error
    assert default_model_id(services) == first["id"]
    assert prefs.update({"default_model": None}) == {"default_model": None, "threads": None}


def test_bad_preferences_are_refused_by_name(services, tmp_path):
    prefs = Preferences(services)
    embedder = services.library.import_model(write_hf_folder(tmp_path / "hf"), name="Embedder")
    services.db().execute(
        "UPDATE models SET role = 'embedding', meta = json_set(meta, '$.role', 'embedding') "
        "WHERE id = ?",
        (embedder["id"],),
    )
    with pytest.raises(UserError, match="not a chat model"):
        prefs.update({"default_model": embedder["id"]})
    with pytest.raises(NotFoundError):
        prefs.update({"default_model": "nope-123456"})
    with pytest.raises(UserError, match="threads"):
        prefs.update({"threads": 0})
    with pytest.raises(UserError, match="colour"):
        prefs.update({"colour": "red"})
    assert prefs.get() == {"default_model": None, "threads": None}  # nothing half-applied


def test_threads_apply_unless_the_model_has_its_own(services, tmp_path):
    model = services.library.import_model(write_gguf(tmp_path / "a.gguf"))
    manager = RuntimeManager(services)
    assert "n_threads" not in manager.settings_of(model["id"])
    Preferences(services).update({"threads": 3})
    assert manager.settings_of(model["id"])["n_threads"] == 3
    manager.settings.update(model["id"], {"n_threads": 1})
    assert manager.settings_of(model["id"])["n_threads"] == 1


def test_cli_shows_sets_and_resets(hearth_home, capsys):
    assert cli.main(["prefs", "set", "threads", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"default_model": None, "threads": 4}
    assert cli.main(["prefs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 4
    assert cli.main(["prefs", "reset", "threads", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] is None
    assert cli.main(["prefs", "set", "threads", "many"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert cli.main(["prefs", "set", "colour", "red"]) == 2
    assert "no preference 'colour'" in capsys.readouterr().err
