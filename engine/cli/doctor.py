"""``hearth-engine doctor``: what Hearth sees on this machine, for bug reports and installers."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import engine
from engine.cli.output import emit_json, human_bytes
from engine.core import devices
from engine.core.paths import data_root
from hearth_common.frozen import bundle_dir, is_frozen


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="show versions, data root, devices and runtimes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def build_info() -> dict[str, Any]:
    """How this Hearth was installed: a packaged bundle (its folder and build stamp) or a
    source install (this Python)."""
    info: dict[str, Any] = {"frozen": is_frozen(), "executable": sys.executable}
    if is_frozen():
        data = getattr(sys, "_MEIPASS", None)  # _internal/, or Contents/Frameworks in Hearth.app
        stamp = Path(data) / "hearth-build.json" if data else bundle_dir() / "_internal" / "hearth-build.json"  # fmt: skip
        try:
            info.update(json.loads(stamp.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    return info


def report() -> dict[str, Any]:
    return {
        "version": engine.__version__,
        "protocol_version": engine.PROTOCOL_VERSION,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "build": build_info(),
        "data_root": str(data_root()),
        "devices": devices.devices(),
        "gpu_notice": devices.gpu_notice(),
        "ram": devices.ram(),
        "runtimes": devices.runtimes(),
    }


def run(args: Any) -> int:
    info = report()
    if args.json:
        emit_json(info)
        return 0
    print(
        f"Hearth engine {info['version']} (protocol {info['protocol_version']}), Python {info['python']}"
    )
    print(f"Platform:  {info['platform']}")
    build = info["build"]
    where = (
        f"bundle at {bundle_dir()}" if build["frozen"] else f"from source, {build['executable']}"
    )
    if build.get("built_at"):
        where += f" (built {build['built_at']}, {build.get('commit') or 'no commit'})"
    print(f"Installed: {where}")
    print(f"Data root: {info['data_root']}")
    print("Devices:")
    for d in info["devices"]:
        print(f"  {d['type']}:{d['index']}  {d['name']}  {human_bytes(d['memory_total_bytes'])}")
    if info["gpu_notice"]:
        print(f"GPU:       {info['gpu_notice']}")
    print("Runtimes:")
    for name, r in info["runtimes"].items():
        print(f"  {name:14s} {r['version'] if r['available'] else 'not installed'}")
    return 0
