"""The API under abuse: connections beyond the cap get 503 with Retry-After on the accepting
thread (no thread each), idle and half-open connections are closed after the idle timeout, and
the server serves again once they are gone."""

from __future__ import annotations

import json
import socket
import time

from tests.engine.api.conftest import TOKEN


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _get_models(port: int) -> bytes:
    with _connect(port) as s:
        s.sendall(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Connection: close\r\n\r\n".encode())  # fmt: skip
        return _read_all(s)


def test_connection_cap_idle_timeout_and_recovery(api_services):
    from engine.api.server import ApiServer

    # an idle timeout well above the time 40 connections take on a loaded machine: the held
    # three must still hold their slots while the others are refused
    server = ApiServer(api_services, port=0, token=TOKEN, max_connections=3, idle_timeout=4.0).start()  # fmt: skip
    held: list[socket.socket] = []
    try:
        for _ in range(3):  # half-open: connected, never a byte sent
            held.append(_connect(server.port))
        time.sleep(0.2)
        extra = [_connect(server.port) for _ in range(40)]
        answers = [_read_all(s) for s in extra]
        for s in extra:
            s.close()
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), head
            assert b"Retry-After: 2" in head
            assert json.loads(body)["error"]["code"] == "too_many_connections"
        assert server.refused == 40
        assert (
            server.peak_connections == 3
        )  # a thread for each served connection, none for the rest
        # the idle ones are closed by the server after its timeout, which frees their slots
        for s in held:
            s.settimeout(10)
            assert _read_all(s) == b""  # closed by the server, nothing sent
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections == 0
        assert _get_models(server.port).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
        server.stop()


def test_cli_limits_are_checked(hearth_home, capsys):
    from engine.cli import main

    assert main(["api", "--port", "0", "--max-connections", "0"]) == 2
    assert "--max-connections" in capsys.readouterr().err
