"""engine/core/options.py: one declaration gives checks with messages, descriptions and CLI flags;
and every option class of the engine describes itself completely."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import pytest

from engine.core.errors import UserError
from engine.core.options import Options, option


@dataclass
class Sample(Options):
    WHAT = "sample option"

    size: int = option(8, "how many", range=(1, 64))
    ratio: float = option(0.5, "how much", range=(0.0, 1.0))
    mode: str = option("fast", "how", choices=("fast", "slow"))
    flag: bool = option(False, "whether")
    tags: list[str] = option(help="labels", factory=list)
    name: str | None = option(None, "a name", check=lambda v: str(v).strip().lower())

    def validate(self) -> None:
        if self.mode == "slow" and self.size > 32:
            raise UserError("slow mode takes at most 32.")


def test_defaults_base_and_none_resets():
    assert Sample.from_dict(None) == Sample()
    got = Sample.from_dict({"size": 4, "tags": "a"}, base={"ratio": 0.25, "size": 2})
    assert (got.size, got.ratio, got.tags) == (4, 0.25, ["a"])
    assert Sample.from_dict({"size": None}, base={"size": 2}).size == 8  # back to the default
    assert Sample.from_dict({"size": 3.0}).size == 3  # a whole float is a whole number
    assert Sample.from_dict({"name": "  Ada "}).name == "ada"  # the field's own check


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 0}, "size must be from 1 to 64, not 0"),
        ({"size": 2.5}, "size must be a whole number"),
        ({"size": True}, "size must be a whole number"),
        ({"ratio": "x"}, "ratio must be a number"),
        ({"ratio": float("nan")}, "ratio must be a finite number"),
        ({"mode": "warp"}, "mode must be one of fast, slow"),
        ({"flag": 1}, "flag must be true or false"),
        ({"tags": [1]}, "tags must be a list of text values"),
        (
            {"colour": 1},
            "Unknown sample option(s) colour; known: flag, mode, name, ratio, size, tags",
        ),
        ({"mode": "slow", "size": 40}, "slow mode takes at most 32"),
        ([1, 2], "must be an object"),
    ],
)
def test_bad_values_are_named(values, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Sample.from_dict(values)


def test_describe_and_cli_flags():
    described = {d["name"]: d for d in Sample.describe()}
    assert described["size"] == {"name": "size", "type": "int", "default": 8, "help": "how many",
                                 "range": [1, 64], "choices": None, "group": "",
                                 "cli": ["--size"]}  # fmt: skip
    assert described["tags"]["type"] == "list" and described["tags"]["default"] == []
    assert described["mode"]["choices"] == ["fast", "slow"]
    parser = argparse.ArgumentParser()
    Sample.add_arguments(parser)
    args = parser.parse_args(["--size", "4", "--flag", "--tags", "a", "--tags", "b"])
    assert Sample.values_from_args(args) == {"size": 4, "flag": True, "tags": ["a", "b"]}
    assert Sample.values_from_args(parser.parse_args([])) == {}  # not given: not sent


def _option_classes() -> list[type[Options]]:
    from engine.chat.params import ChatParams
    from engine.chat.presets.options import OPTION_TYPES
    from engine.datasets.step_options import STEP_OPTIONS
    from engine.documents.settings import CollectionSettings, SearchOptions
    from engine.runtimes.settings import ModelSettingValues
    from engine.training.config import TrainOptions

    return [ChatParams, CollectionSettings, SearchOptions, ModelSettingValues, TrainOptions,
            *OPTION_TYPES.values(), *STEP_OPTIONS.values()]  # fmt: skip


@pytest.mark.parametrize("cls", _option_classes(), ids=lambda c: c.__name__)
def test_every_option_class_describes_itself_and_accepts_its_defaults(cls):
    described = cls.describe()
    assert json.loads(json.dumps(described)) == described  # what the GUI receives
    for d in described:
        assert d["help"], f"{cls.__name__}.{d['name']} has no help text"
        if d["range"] is not None and d["default"] is not None:
            assert d["range"][0] <= d["default"] <= d["range"][1], d["name"]
        if d["choices"] is not None and d["default"] is not None:
            assert d["default"] in d["choices"], d["name"]
    # the defaults, given back explicitly, pass the checks unchanged (or, where the defaults alone
    # are not a valid request -- a filter with no criterion -- are refused the same way)
    explicit = {d["name"]: d["default"] for d in described if d["default"] not in (None, [])}

    def outcome(values: dict) -> object:
        try:
            return cls.from_dict(values).to_dict()
        except UserError as exc:
            return exc.message

    assert outcome(explicit) == outcome({})
