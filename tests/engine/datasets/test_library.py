"""Versions, undo, lazy paging, search and filters, and row edits."""

from __future__ import annotations

import pytest

from engine.core.errors import NotFoundError, UserError
from engine.datasets import clean
from engine.datasets.library import DatasetLibrary
from tests.engine.datasets.conftest import alpaca_rows, import_rows


def test_every_step_is_a_version_and_undo_loses_nothing(services, ctx, tmp_path):
    import_rows(services, tmp_path, alpaca_rows(10), name="hist")
    lib = DatasetLibrary(services)
    out = clean.filter_rows(services, "hist", {"include": r"item [0-4]\b"}, ctx)
    assert out["removed"] == 5 and out["version"]["version"] == 2
    assert out["version"]["summary"]["reasons"]["not_included"] == 5
    lib.edit("hist", update=[{"index": 0, "row": {"instruction": "Changed", "output": "Yes"}}])
    assert lib.page("hist")["rows"][0]["row"] == {
        "instruction": "Changed",
        "input": "",
        "output": "Yes",
    }
    assert lib.get("hist")["version"] == 3
    lib.undo("hist")
    assert (
        lib.get("hist")["rows"] == 5
        and lib.page("hist")["rows"][0]["row"]["instruction"] != "Changed"
    )
    lib.undo("hist")
    assert lib.get("hist")["rows"] == 10
    with pytest.raises(UserError, match="nothing to undo"):
        lib.undo("hist")
    lib.redo("hist")
    assert lib.get("hist")["version"] == 2
    # a step after an undo branches; every version stays readable
    clean.filter_rows(services, "hist", {"exclude": "item 1"}, ctx)
    history = lib.history("hist")
    assert [(v["version"], v["parent"], v["operation"]) for v in history["versions"]] == [
        (1, None, "import"), (2, 1, "filter"), (3, 2, "edit"), (4, 2, "filter"),
    ]  # fmt: skip
    assert lib.page("hist", version=3)["rows"][0]["row"]["instruction"] == "Changed"
    lib.checkout("hist", 1)
    assert lib.get("hist")["rows"] == 10


def test_a_filter_that_removes_every_row_makes_no_version(services, ctx, tmp_path):
    import_rows(services, tmp_path, alpaca_rows(4), name="all")
    with pytest.raises(UserError, match=r"All 4 rows would be removed.*nothing was changed"):
        clean.filter_rows(services, "all", {"min_tokens": 10_000}, ctx)
    with pytest.raises(UserError, match="All 4 rows"):
        clean.filter_rows(services, "all", {"exclude": "."}, ctx)
    lib = DatasetLibrary(services)
    assert lib.get("all")["versions"] == 1 and lib.get("all")["rows"] == 4
    assert list((lib.folder(lib.resolve("all")) / "versions").glob("*.idx")) == [
        lib.folder(lib.resolve("all")) / "versions" / "v1.idx"
    ]


def test_a_step_that_changes_nothing_makes_no_version(services, ctx, tmp_path):
    import_rows(services, tmp_path, alpaca_rows(3), name="same")
    out = clean.filter_rows(services, "same", {"drop_empty": True}, ctx)
    assert out["version"] is None and out["removed"] == 0
    assert DatasetLibrary(services).get("same")["versions"] == 1


def test_paging_search_and_filters(services, tmp_path):
    rows = alpaca_rows(300)
    rows[250]["output"] = "A NEEDLE in the haystack"
    rows[20]["output"] = ""
    import_rows(services, tmp_path, rows, name="big")
    lib = DatasetLibrary(services)
    page = lib.page("big", offset=295, limit=50)
    assert page["total"] == 300 and [r["index"] for r in page["rows"]] == list(range(295, 300))
    assert page["next_offset"] is None
    found = lib.scan("big", query="needle")
    assert [r["index"] for r in found["rows"]] == [250] and found["done"]
    assert lib.scan("big", query="needle", case_sensitive=True)["rows"] == []
    assert [r["index"] for r in lib.scan("big", query=r"item 2\d9\b", regex=True)["rows"]] == [
        209,
        219,
        229,
        239,
        249,
        259,
        269,
        279,
        289,
        299,
    ]
    # a bounded scan returns a cursor to continue from
    part = lib.scan("big", query="needle", budget=100)
    assert part["rows"] == [] and part["next_offset"] == 100 and not part["done"]
    rest = lib.scan("big", query="needle", offset=part["next_offset"])
    assert [r["index"] for r in rest["rows"]] == [250]
    empty = lib.scan("big", filters=[{"op": "empty", "field": "output"}])
    assert [r["index"] for r in empty["rows"]] == [20]
    assert lib.scan("big", filters=[{"op": "tokens_gt", "value": 10**6}])["rows"] == []
    with pytest.raises(UserError, match="not valid"):
        lib.scan("big", query="(", regex=True)
    with pytest.raises(NotFoundError):
        lib.page("nope")


def test_edits_insert_add_and_delete_in_one_version(services, tmp_path):
    import_rows(services, tmp_path, alpaca_rows(5), name="ed")
    lib = DatasetLibrary(services)
    out = lib.edit(
        "ed",
        insert=[{"at": 0, "row": {"instruction": "first", "output": "1"}}],
        add=[{"instruction": "last", "output": "9"}],
        delete=[2, 3],
    )
    assert out["version"]["summary"]["description"] == "Rows added 2, deleted 2."
    got = [r["row"]["instruction"] for r in lib.page("ed")["rows"]]
    assert got == [
        "first",
        "Task 0: explain item 0",
        "Task 1: explain item 1",
        "Task 4: explain item 4",
        "last",
    ]
    with pytest.raises(UserError, match="not valid alpaca"):
        lib.edit("ed", add=[{"text": "wrong format"}])
    with pytest.raises(UserError, match="out of range"):
        lib.edit("ed", delete=[99])
    with pytest.raises(UserError, match="empty"):
        lib.edit("ed", delete=list(range(5)))
    assert lib.get("ed")["versions"] == 2


def test_what_killed_writers_left_is_swept_when_jobs_start(hearth_home, tmp_path):
    """A dataset import killed part-way leaves a folder no list shows: the next start removes it,
    and the unfinished version file of a registered dataset, but never a live writer's work."""
    import subprocess
    import sys
    from pathlib import Path

    from engine.datasets.library import DatasetLibrary
    from engine.datasets.rowstore import VersionWriter
    from engine.services import Services

    services = Services(hearth_home)
    lib = DatasetLibrary(services)
    kept = lib.folder("kept")
    writer = VersionWriter(lib.folder(lib.new_id()))
    writer.add_row({"text": "registered"}, 1)
    registered = lib.create(lib.new_id(), "registered", writer, fmt="text", source={},
                            operation="import", params={}, summary={})  # fmt: skip
    busy = VersionWriter(kept)  # this process is still writing here
    busy.add_row({"text": "in progress"}, 1)
    script = (
        "import os, sys; from pathlib import Path; from engine.datasets.rowstore import VersionWriter\n"
        "w = VersionWriter(Path(sys.argv[1])); w.add_row({'text': 'x' * 1000}, 1)\n"
        "w2 = VersionWriter(Path(sys.argv[2])); w2.add_row({'text': 'y'}, 1)\n"
        "os._exit(9)  # killed: no commit, no abort\n"
    )  # fmt: skip
    orphan = lib.folder("orphan")
    subprocess.run([sys.executable, "-c", script, str(orphan), registered["path"]], check=False)
    assert orphan.is_dir() and list((Path(registered["path"]) / "versions").glob(".new-*.idx"))
    services.close()

    again = Services(hearth_home)
    try:
        assert again.jobs is not None  # starting the jobs sweeps, as it marks interrupted jobs
        assert not orphan.exists()
        assert not list((Path(registered["path"]) / "versions").glob(".new-*.idx"))
        assert kept.is_dir()  # a live writer's folder stays
        assert [d["name"] for d in DatasetLibrary(again).list()] == ["registered"]
    finally:
        busy.abort()
        again.close()
