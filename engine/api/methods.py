"""JSON-RPC methods ``api.*``: run the local OpenAI-compatible API inside the engine process (the
Chat panel's toggle), so it shares the engine's warm models. See docs/PROTOCOL.md.

Every change is also announced with an ``api.changed`` notification carrying the new status.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from engine.api import settings
from engine.core.errors import UserError
from engine.rpc.registry import RequestContext, method

if TYPE_CHECKING:
    from engine.api.server import ApiServer
    from engine.services import Services

_lock = threading.Lock()  # one start or stop at a time


def current(services: Services) -> ApiServer | None:
    return services.api


def status(services: Services) -> dict[str, Any]:
    server = current(services)
    running = server is not None
    return {
        "running": running,
        "url": server.url if running else None,
        "port": server.port if running else settings.port(),
        "token": server.token if running else settings.token(),
        "requests": server.requests if running else 0,
        "host": "127.0.0.1",
    }


def start(services: Services, port: int | None = None) -> dict[str, Any]:
    """Start the API (or return the running one's status; another port restarts it)."""
    from engine.api.server import ApiServer

    if port is not None and (isinstance(port, bool) or not 0 <= port < 65536):
        raise UserError(f"The port must be a number from 1 to 65535, not {port!r}.")
    with _lock:
        server = current(services)
        if server is not None and port in (None, 0, server.port):
            return status(services)
        if server is not None:
            server.stop()
            services.api = None
        wanted = settings.port() if port is None else port
        server = ApiServer(services, port=wanted, token=settings.token()).start()
        services.api = server
        if port:
            settings.save({"port": port})
    return _changed(services)


def stop(services: Services) -> dict[str, Any]:
    with _lock:
        server = current(services)
        if server is not None:
            services.api = None
            server.stop()
    return _changed(services)


def regenerate_token(services: Services) -> dict[str, Any]:
    """A new token, in force at once: clients using the old one get 401 from now on."""
    token = settings.regenerate_token()
    server = current(services)
    if server is not None:
        server.token = token
    return _changed(services)


def _changed(services: Services) -> dict[str, Any]:
    info = status(services)
    services.notify("api.changed", info)
    return info


@method("api.start")
def api_start(ctx: RequestContext, port: int | None = None) -> dict[str, Any]:
    return start(ctx.services, port)


@method("api.stop")
def api_stop(ctx: RequestContext) -> dict[str, Any]:
    return stop(ctx.services)


@method("api.status")
def api_status(ctx: RequestContext) -> dict[str, Any]:
    return status(ctx.services)


@method("api.regenerate_token")
def api_regenerate_token(ctx: RequestContext) -> dict[str, Any]:
    return regenerate_token(ctx.services)
