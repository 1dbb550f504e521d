"""``hearth-engine api``: serve the local OpenAI-compatible API until interrupted.

    hearth-engine api --port 8470            # token: the saved one (created on first use)
    hearth-engine api --port 0 --token T     # any free port; T for this run only

When it is ready it prints exactly one JSON line on stdout, ``{"url": ..., "token": ...}`` (``url``
is the base URL for OpenAI clients, ending in ``/v1``), then serves on 127.0.0.1 until Ctrl+C or
SIGTERM. Anything else (logs, native library output) goes to stderr or the log file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "api", help="serve the local OpenAI-compatible API on 127.0.0.1 until interrupted"
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="TCP port (default: the saved one, 8470; 0: any free)",
    )
    p.add_argument("--token", help="bearer token for this run (default: the saved token)")
    p.add_argument(
        "--regenerate-token",
        action="store_true",
        dest="regenerate",
        help="make and save a new token first (clients using the old one get 401)",
    )
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="connections served at once; more are answered 503 with Retry-After (default 64)")  # fmt: skip
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help="close a connection that sends nothing for S seconds (default 15)")  # fmt: skip
    p.set_defaults(func=cmd_api)


def cmd_api(args: Any) -> int:
    from engine.api import settings
    from engine.api.server import IDLE_TIMEOUT_S, MAX_CONNECTIONS, ApiServer
    from engine.services import Services

    limits = {"max_connections": MAX_CONNECTIONS if args.max_connections is None else args.max_connections,
              "idle_timeout": IDLE_TIMEOUT_S if args.idle_timeout is None else args.idle_timeout}  # fmt: skip
    if not 1 <= limits["max_connections"] <= 10_000 or not 0.5 <= limits["idle_timeout"] <= 3600:
        from engine.core.errors import UserError

        raise UserError("--max-connections must be from 1 to 10000 and --idle-timeout from 0.5 to 3600 seconds.")  # fmt: skip
    # Our one line goes to a private copy of stdout; fd 1 then points at stderr, so nothing a
    # native library prints can corrupt what scripts read.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    token = settings.check_token(args.token) if args.token else None
    if token is None:
        token = settings.regenerate_token() if args.regenerate else settings.token()
    port = settings.port() if args.port is None else args.port
    if not 0 <= port < 65536:
        from engine.core.errors import UserError

        raise UserError(f"The port must be a number from 1 to 65535, not {port}.")
    services = Services()
    if not os.environ.get("HEARTH_SKIP_BUNDLED"):
        try:
            services.library.ensure_bundled()
        except Exception as exc:  # the API still serves whatever else the library has
            print(f"hearth-engine: warning: bundled models unavailable: {exc}", file=sys.stderr)
    server = ApiServer(services, port=port, token=token, **limits)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    line = json.dumps({"url": server.url, "token": token}) + "\n"
    os.write(out_fd, line.encode("utf-8"))
    os.close(out_fd)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        services.close()
    return 0
