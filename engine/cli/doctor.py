"""``hearth-engine doctor``: what Hearth sees on this machine, for bug reports and installers."""

from __future__ import annotations

import platform
import sys
from typing import Any

import engine
from engine.cli.output import emit_json, human_bytes
from engine.core import devices
from engine.core.paths import data_root


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="show versions, data root, devices and runtimes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def report() -> dict[str, Any]:
    return {
        "version": engine.__version__,
        "protocol_version": engine.PROTOCOL_VERSION,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "data_root": str(data_root()),
        "devices": devices.devices(),
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
    print(f"Data root: {info['data_root']}")
    print("Devices:")
    for d in info["devices"]:
        print(f"  {d['type']}:{d['index']}  {d['name']}  {human_bytes(d['memory_total_bytes'])}")
    print("Runtimes:")
    for name, r in info["runtimes"].items():
        print(f"  {name:14s} {r['version'] if r['available'] else 'not installed'}")
    return 0
