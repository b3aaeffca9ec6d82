"""The playground's HTTP API and page, a Starlette app served by uvicorn on 127.0.0.1.

    GET  /                                  the page (static/index.html; its assets under /static)
    POST /api/sessions                      a new session (body: settings, optional) -> its state
    GET  /api/sessions/{id}/state?since=V   the state, or {"changed": false} if still version V
    POST /api/sessions/{id}/settings        change settings (any subset); the run starts over
    POST /api/sessions/{id}/play|pause|step|reset|close
    GET  /api/sessions/{id}/export.toml     the experiment file (``chainrule train``)
    GET  /api/sessions/{id}/export.py       the same run as a Python script
    GET  /api/options                       the names and limits the page offers
    GET  /api/status                        open sessions, limits

A bad request gets a 4xx JSON answer ``{"error": ..., "field": ...}`` naming the field.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import socket
import threading
import time
import webbrowser
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from chainrule.experiments.schema import ConfigError
from chainrule.playground.session import SessionLimitError, SessionPool
from chainrule.playground.settings import OPTIONS, export_script, export_toml, parse_settings

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the playground needs the 'playground' extra ({error.name} is missing): "
        'pip install "chainrule[playground]"'
    ) from None

HOST = "127.0.0.1"  # loopback only: the page can start training on this machine
MAX_BODY = 16_384  # bytes: settings are a few hundred
ACTIONS = ("play", "pause", "step", "reset", "close")
STATIC = Path(str(importlib.resources.files("chainrule.playground") / "static"))


class RequestError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _state(session: Any) -> Response:
    return Response(session.state, media_type="application/json")


async def _settings_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise RequestError(413, f"body: {len(body)} bytes; at most {MAX_BODY}", "body")
    if not body.strip():
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # a page of another site can post forms or text here, but not JSON (without asking)
        raise RequestError(415, "body: expected Content-Type: application/json", "body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(
            400, f"body: expected a JSON object of settings ({error})", "body"
        ) from None


def create_app(pool: SessionPool | None = None) -> Starlette:
    """The playground's ASGI app; ``app.state.pool`` holds its sessions."""
    pool = pool if pool is not None else SessionPool()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool.shutdown()  # the worker stops with the server

    def session_of(request: Request) -> Any:
        session = pool.get(request.path_params["session_id"])
        if session is None:
            raise RequestError(
                404, "session: no such session (it was closed or expired)", "session"
            )
        return session

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "sessions": len(pool.sessions),
                "max_sessions": pool.max_sessions,
                "ttl_s": pool.ttl,
                "expired": pool.expired,
            }
        )

    async def choices(request: Request) -> Response:
        return JSONResponse(OPTIONS)

    async def create(request: Request) -> Response:
        settings = parse_settings(await _settings_body(request))
        session = await run_in_threadpool(pool.create, settings)
        return Response(session.state, status_code=201, media_type="application/json")

    async def state(request: Request) -> Response:
        session = session_of(request)
        since = request.query_params.get("since", "")
        if since:
            if not since.isdigit():
                raise RequestError(400, f"since: expected a version number; got {since!r}", "since")
            if int(since) >= session.version:
                return JSONResponse({"version": session.version, "changed": False})
        return _state(session)

    async def change(request: Request) -> Response:
        session = session_of(request)
        settings = parse_settings(await _settings_body(request), session.settings)
        await run_in_threadpool(pool.rebuild, session, settings)
        return _state(session)

    async def act(request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise RequestError(
                404, f"action: unknown action {action!r}; expected one of {', '.join(ACTIONS)}"
            )
        if action == "close":
            pool.close(request.path_params["session_id"])
            return Response(status_code=204)
        session = session_of(request)
        if action in ("play", "pause"):
            await run_in_threadpool(pool.play, session, action == "play")
        elif action == "step":
            if not await run_in_threadpool(pool.step, session):
                raise RequestError(503, "step: the epoch did not finish in time; try again")
        else:
            await run_in_threadpool(pool.rebuild, session, session.settings)
        return _state(session)

    async def export(request: Request) -> Response:
        session = session_of(request)
        kind = request.path_params["kind"]
        if kind not in ("toml", "py"):
            raise RequestError(404, f"export: expected export.toml or export.py; got export.{kind}")
        if session.epoch == 0:
            raise RequestError(409, "export: train at least one epoch first", "epoch")
        make = export_toml if kind == "toml" else export_script
        text = make(session.settings, session.epoch)
        name = f"playground-{session.settings.dataset}.{kind}"
        return PlainTextResponse(
            text, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    def handler(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except RequestError as error:
                return _error(error.status, str(error), error.field)
            except ConfigError as error:  # a setting out of range: "lr: expected ..."
                message = str(error)
                return _error(422, message, message.split(":", 1)[0])
            except SessionLimitError as error:
                return _error(503, str(error), "session")

        return run

    app = Starlette(
        routes=[
            Route("/", handler(index)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/api/options", handler(choices)),
            Route("/api/status", handler(status)),
            Route("/api/sessions", handler(create), methods=["POST"]),
            Route("/api/sessions/{session_id}/state", handler(state)),
            Route("/api/sessions/{session_id}/settings", handler(change), methods=["POST"]),
            Route("/api/sessions/{session_id}/export.{kind}", handler(export)),
            Route("/api/sessions/{session_id}/{action}", handler(act), methods=["POST"]),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])],
        lifespan=lifespan,
    )
    app.state.pool = pool
    return app


def bind(port: int | None = None) -> socket.socket:
    """A listening socket on 127.0.0.1: ``port``, or a free one when None."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port or 0))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def _server(app: Starlette) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))


def serve(port: int | None = None, open_browser: bool = True, **pool_args: Any) -> None:
    """Serve the playground on 127.0.0.1 until Ctrl-C; prints the URL (and opens it)."""
    sock = bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    server = _server(create_app(SessionPool(**pool_args)))
    print(f"chainrule playground: {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    try:
        server.run(sockets=[sock])  # on Ctrl-C: shuts down, then raises KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("chainrule playground: stopped", flush=True)


class BackgroundServer:
    """The playground served from a thread (for tests and benchmarks): ``url``, ``stop()``."""

    def __init__(self, port: int | None = None, **pool_args: Any) -> None:
        self.sock = bind(port)
        self.url = f"http://{HOST}:{self.sock.getsockname()[1]}"
        self.app = create_app(SessionPool(**pool_args))
        self.server = _server(self.app)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the playground server did not start")
            time.sleep(0.01)

    @property
    def pool(self) -> SessionPool:
        return self.app.state.pool

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
