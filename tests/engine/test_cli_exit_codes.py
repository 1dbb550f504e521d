"""The CLI's exit statuses are the ones the README promises: 2 for an error the user can fix,
70 for an internal error (with the log file named), 130 for Ctrl+C."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import engine.cli as cli
from engine.core.errors import UserError

README = Path(__file__).resolve().parents[2] / "README.md"


def _run_with(monkeypatch, exc: BaseException, capsys) -> tuple[int, str]:
    def boom(_args):
        raise exc

    class Parser:  # any command whose work raises ``exc``
        def parse_args(self, _argv):
            return argparse.Namespace(func=boom)

    monkeypatch.setattr(cli, "build_parser", Parser)
    code = cli.main(["models", "list"])
    return code, capsys.readouterr().err


def test_exit_statuses_match_the_readme(hearth_home, monkeypatch, capsys):
    text = " ".join(README.read_text(encoding="utf-8").split())
    promised = {
        "user": int(re.search(r"Errors you can fix .*? exit with status (\d+)", text).group(1)),
        "internal": int(re.search(r"internal errors .*? exit with status (\d+)", text).group(1)),
        "cancel": int(re.search(r"Ctrl\+C exits with status (\d+)", text).group(1)),
    }
    code, err = _run_with(monkeypatch, UserError("Name a model."), capsys)
    assert code == promised["user"] == 2 and err.strip() == "hearth-engine: error: Name a model."
    code, err = _run_with(monkeypatch, RuntimeError("a bug"), capsys)
    assert code == promised["internal"] == 70
    assert "internal error: RuntimeError: a bug" in err and "cli" in err and ".log" in err
    code, err = _run_with(monkeypatch, KeyboardInterrupt(), capsys)
    assert code == promised["cancel"] == 130
