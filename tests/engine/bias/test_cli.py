"""``hearth-engine bias``: every command's JSON shape as documented, and bad input's exit code."""

from __future__ import annotations

import json

from engine.cli import main


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_bias_commands_print_the_documented_shapes(services, llama_id, text_file, tmp_path, capsys):  # fmt: skip
    assert main(["bias", "sets", "--json"]) == 0
    sets = _json(capsys)["sets"]
    builtin = next(s for s in sets if s["name"] == "hearth-builtin")
    assert {"name", "pairs", "categories", "heldout"} <= set(builtin)
    assert sum(builtin["categories"].values()) == builtin["pairs"]

    rows = [{"category": c, "a": f"The {w} man said that", "b": f"The {w}er man said that"}
            for c in ("x", "y") for w in ("old", "rich", "tall", "young")]  # fmt: skip
    file = tmp_path / "mine.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main(["bias", "set", "import", str(file), "--name", "mine", "--json"]) == 0
    assert _json(capsys)["pairs"] == 8
    assert main(["bias", "set", "show", "mine", "--json"]) == 0
    assert len(_json(capsys)["pairs_list"]) == 8

    assert main(["bias", "align", "--model", llama_id, "--set", "mine", "--pairs", "3", "--json"]) == 0  # fmt: skip
    aligned = _json(capsys)
    assert len(aligned["pairs"]) == 3 and all(p["differ_a"] for p in aligned["pairs"])
    assert main(["bias", "align", "--model", llama_id, "--set", "mine"]) == 0
    assert "8 pairs" in capsys.readouterr().out

    assert main(["bias", "run", "--model", llama_id, "--set", "mine", "--json"]) == 0
    run = _json(capsys)
    assert set(run) == {"run_id", "model_id", "pairs", "layers", "components", "seconds",
                        "overall_mean_diff", "by_component", "arrays"}  # fmt: skip
    assert run["pairs"] == 8 and len(run["by_component"]["mlp"]) == run["layers"]
    assert main(["bias", "runs", "--json"]) == 0
    assert [r["run_id"] for r in _json(capsys)["runs"]] == [run["run_id"]]
    assert main(["bias", "compare", run["run_id"], run["run_id"], "--json"]) == 0
    assert _json(capsys)["change"] == 0

    args = ["bias", "prune", "--model", llama_id, "--set", "mine", "--neurons", "4",
            "--file", str(text_file), "--json"]  # fmt: skip
    assert main(args) == 0
    pruned = _json(capsys)
    assert set(pruned) == {"model_id", "heldout_bias_before", "heldout_bias_after",
                           "control_bias_after", "ppl_before", "ppl_after"}  # fmt: skip


def test_bias_bad_input_exits_2_with_the_reason(services, llama_id, tmp_path, capsys):
    assert main(["bias", "run", "--model", llama_id, "--set", "nope"]) == 2
    assert "known sets" in capsys.readouterr().err
    same = tmp_path / "same.jsonl"
    same.write_text('{"category": "c", "a": "Same", "b": "Same"}\n', encoding="utf-8")
    assert main(["bias", "set", "import", str(same)]) == 2
    assert "identical" in capsys.readouterr().err
    assert main(["bias", "prune", "--model", llama_id, "--set", "hearth-builtin", "--neurons", "0"]) == 2  # fmt: skip
    assert "at least 1" in capsys.readouterr().err
