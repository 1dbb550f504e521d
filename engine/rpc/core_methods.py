"""Engine-level RPC methods: the ``initialize`` handshake and ``engine.status``.

``ping``, ``shutdown`` and ``$/cancel`` are answered by the dispatcher's reader thread itself.
"""

from __future__ import annotations

import os
from typing import Any

import psutil

import engine
from engine.core import devices
from engine.core.errors import UserError
from engine.rpc.registry import RequestContext, method


@method("initialize")
def initialize(
    ctx: RequestContext, protocol_version: int, client: str | None = None
) -> dict[str, Any]:
    if protocol_version != engine.PROTOCOL_VERSION:
        raise UserError(
            f"This engine speaks protocol {engine.PROTOCOL_VERSION} but the app speaks {protocol_version}; "
            "reinstall Hearth so the app and engine match."
        )
    dispatcher_info = getattr(ctx, "_dispatcher", None)
    info = dispatcher_info.info if dispatcher_info is not None else {}
    names = dispatcher_info.method_names if dispatcher_info is not None else []
    return {
        "protocol_version": engine.PROTOCOL_VERSION,
        "engine_version": engine.__version__,
        "pid": os.getpid(),
        "data_root": str(ctx.services.root),
        "log_file": info.get("log_file"),
        "crash_file": info.get("crash_file"),
        "devices": devices.devices(),
        "gpu_notice": devices.gpu_notice(),
        "ram": devices.ram(),
        "runtimes": devices.runtimes(),
        "capabilities": ["ping", "shutdown", "$/cancel", *names],
    }


@method("engine.status")
def status(ctx: RequestContext) -> dict[str, Any]:
    return {
        "rss_bytes": psutil.Process().memory_info().rss,
        "ram": devices.ram(),
        "running_jobs": ctx.services.jobs.running(),
    }


@method("prefs.get")
def prefs_get(ctx: RequestContext) -> dict[str, Any]:
    """The user's preferences (None: the engine's choice) and what each one means."""
    from engine.core.preferences import Preferences

    prefs = Preferences(ctx.services)
    return {"preferences": prefs.get(), "describe": prefs.describe()}


@method("prefs.set")
def prefs_set(ctx: RequestContext, values: dict) -> dict[str, Any]:
    """Change preferences (None resets one); the models loaded with old threads reload on use."""
    from engine.core.preferences import Preferences

    prefs = Preferences(ctx.services)
    prefs.update(values)
    ctx.notify("prefs.changed", {})
    return {"preferences": prefs.get(), "describe": prefs.describe()}
