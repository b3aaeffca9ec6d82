"""A few dozen browser tabs at once against the real server on 127.0.0.1: no crash, no leak."""

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("starlette")

from chainrule.playground.server import BackgroundServer

USERS = 36
MAX_SESSIONS = 24
TTL = 3.0


def call(url, body=None, method=None):
    """(status, parsed JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    kind = "json" if raw.startswith((b"{", b"[")) else "text"
    return status, json.loads(raw) if kind == "json" else raw.decode()


def tab(base, i):
    """What one tab does: open, step, play, poll, pause, export; every other one closes."""
    sets = ("circle", "xor", "gauss", "spiral")
    status, state = call(f"{base}/api/sessions", {"dataset": sets[i % 4], "batch_size": 25})
    if status == 503:
        return ["refused"]
    assert status == 201, state
    statuses = []
    session = f"{base}/api/sessions/{state['id']}"
    statuses.append(call(f"{session}/step", method="POST")[0])
    statuses.append(call(f"{session}/play", method="POST")[0])
    version = 0
    for _ in range(5):
        status, state = call(f"{session}/state?since={version}")
        statuses.append(status)
        version = state["version"]
        time.sleep(0.05)
    statuses.append(call(f"{session}/pause", method="POST")[0])
    statuses.append(call(f"{session}/export.toml")[0])
    statuses.append(call(f"{session}/settings", {"hidden": [9]})[0])  # refused, 422
    if i % 2:
        statuses.append(call(f"{session}/close", method="POST")[0])
    return statuses


def test_a_few_dozen_concurrent_tabs_neither_crash_the_server_nor_leak_sessions():
    with BackgroundServer(max_sessions=MAX_SESSIONS, ttl=TTL) as server:
        assert server.sock.getsockname()[0] == "127.0.0.1"  # loopback only
        threads_before = threading.active_count()
        peak, watching = [0], [True]

        def watch():
            while watching[0]:
                peak[0] = max(peak[0], len(server.pool.sessions))
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(USERS) as users:
                results = list(users.map(lambda i: tab(server.url, i), range(USERS)))
        finally:
            watching[0] = False
            watcher.join()

        opened = [r for r in results if r != ["refused"]]
        assert len(opened) >= MAX_SESSIONS // 2
        for statuses in opened:
            expected = [200] * 9 + [422] + ([204] if len(statuses) == 11 else [])
            assert statuses == expected
        assert peak[0] <= MAX_SESSIONS
        assert call(f"{server.url}/api/status")[0] == 200  # still serving

        deadline = time.monotonic() + TTL + 5  # the worker closes idle sessions within a second
        while server.pool.sessions:
            assert time.monotonic() < deadline, f"{len(server.pool.sessions)} sessions leaked"
            time.sleep(0.1)
        assert server.pool._worker.is_alive()
        # request threads come from anyio's pool, at most 40 (the watcher has ended)
        assert threading.active_count() <= threads_before + 40
