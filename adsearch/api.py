"""The JSON HTTP API of ``adsearch serve`` (FastAPI), with the Gradio app mounted on the same server and port.

Endpoints (OpenAPI docs at ``/docs``; every error is JSON ``{"error": {"code", "message"}}`` with a 4xx status):

- ``POST /search``: ``{"query", "k", "offset", "filters", "channels"}`` -> one page of hits
- ``GET /clips/{clip_id}``: texts, labels, time range, thumbnail and clip URLs
- ``GET /media/thumbs/{clip_id}.jpg``, ``GET /media/clips/{clip_id}.mp4``: the only files served (from the catalog)
- ``GET /health``, ``GET /index``: readiness; index versions and coverage
- ``POST /catalogs`` ``{"path", "catalog"}`` -> a background job (202); ``GET /jobs/{job_id}``: its progress

Security: bound to loopback unless a token is set; with a token, every request (API, docs and app) needs
``Authorization: Bearer <token>`` (a browser may open ``/?token=<token>`` once: it sets a cookie). Request bodies
are capped (``max_body_bytes``, 1 MB by default; the app's zip uploads have their own cap).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from adsearch.defaults import DEFAULT_K
from adsearch.service import SearchService, ServiceError

__all__ = ["MAX_BODY_BYTES", "TOKEN_COOKIE", "BackgroundServer", "create_app", "is_loopback"]

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
TOKEN_COOKIE = "adsearch_token"
_DRAIN_FACTOR = 16  # a too-large body up to 16x the cap is read before the 413, so simple clients see it
_UPLOAD_SUFFIX = "/upload"  # Gradio's file upload route: capped by the app's max_file_size instead
_HIDDEN_HIT_FIELDS = {"path", "thumb"}  # server paths stay on the server


# --- request and response models ---------------------------------------------------------------------------------
class SearchRequest(BaseModel):
    """A search: the query text, how many hits from where, and optional filters and channels."""

    model_config = ConfigDict(extra="forbid")

    query: StrictStr = Field(description="what the clip shows, e.g. 'a woman in a red dress dancing'")
    k: StrictInt = Field(DEFAULT_K, description="hits per page (1 to 100)")
    offset: StrictInt = Field(0, description="hits to skip (paging; offset + k <= 1000)")
    filters: dict[StrictStr, StrictStr | list[StrictStr] | None] | None = Field(
        None, description='field -> value or values, e.g. {"industry": "games", "game": ["rpg", "moba"]}'
    )
    channels: list[StrictStr] | None = Field(
        None, description="search channels among visual, description, speech, text (default: every published one)"
    )


class CatalogRequest(BaseModel):
    """A catalog to add: a manifest or folder of videos under one of the server's ingest roots."""

    model_config = ConfigDict(extra="forbid")

    path: StrictStr = Field(description="manifest (.jsonl/.csv/.parquet) or folder of videos, on the server")
    catalog: StrictStr | None = Field(None, description="catalog name (default: the source folder's name)")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


def _hit_json(hit: Any, base: str) -> dict[str, Any]:
    data = asdict(hit) if hasattr(hit, "__dataclass_fields__") else dict(vars(hit))
    out = {k: v for k, v in data.items() if k not in _HIDDEN_HIT_FIELDS}
    out["thumbnail_url"] = f"{base}/media/thumbs/{hit.clip_id}.jpg"
    out["clip_url"] = f"{base}/media/clips/{hit.clip_id}.mp4"
    return _json_safe(out)


def _snippet_fields(snippet: Any) -> dict[str, Any] | None:
    return None if snippet is None else {f: getattr(snippet, f) for f in snippet.__dataclass_fields__}


def _fast_hit(hit: Any, base: str) -> dict[str, Any]:
    """``_hit_json`` of an ``indexer.search.Hit`` without ``asdict``'s deep copies (orjson writes tuples as arrays,
    a non-finite float as null)."""
    out = {f: getattr(hit, f) for f in hit.__dataclass_fields__ if f not in _HIDDEN_HIT_FIELDS}
    out["snippet"] = _snippet_fields(hit.snippet)
    out["snippets"] = {str(k): _snippet_fields(v) for k, v in hit.snippets.items()}
    out["thumbnail_url"] = f"{base}/media/thumbs/{hit.clip_id}.jpg"
    out["clip_url"] = f"{base}/media/clips/{hit.clip_id}.mp4"
    return out


def _json_response(payload: dict[str, Any]) -> Response:
    """``payload`` written by orjson: a fraction of FastAPI's encoder's cost for a page of hits."""
    body = orjson.dumps(payload, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json")


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next(e.get("ctx", {}) for e in errors if e.get("type") == "json_invalid")
        return 400, "invalid_json", f"the request body is not valid JSON ({ctx.get('error', 'parse error')})"
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        if e.get("type") == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
        elif e.get("type") == "missing":
            parts.append(f"{loc}: required")
        else:
            parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "invalid_request", "; ".join(parts) + more


# --- middleware ---------------------------------------------------------------------------------------------------
class _Guard:
    """Pure ASGI middleware: the token check (when set) and the request body cap, before any route runs."""

    def __init__(self, app: Any, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body_bytes

    async def _send_json(self, send: Callable, status: int, code: str, message: str, extra: list | None = None):
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: dict) -> tuple[bool, bool]:
        """(authorized, came by the query string: set the cookie)."""
        if self.token is None:
            return True, False
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        expected = self.token.encode()
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), expected):
            return True, False
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and hmac.compare_digest(value.encode(), expected):
                return True, False
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if any(hmac.compare_digest(v.encode(), expected) for v in query.get("token", [])):
            return True, True
        return False, False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        ok, set_cookie = self._authorized(scope)
        if not ok:
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.close", "code": 1008})
                return
            return await self._send_json(
                send,
                401,
                "unauthorized",
                "this server needs a token: send 'Authorization: Bearer <token>' (browsers: open /?token=<token>)",
                [(b"www-authenticate", b"Bearer")],
            )
        if set_cookie:
            cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

            async def send_with_cookie(message: dict) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
                await send(message)

            send_out = send_with_cookie
        else:
            send_out = send
        if scope["type"] == "http" and not scope["path"].endswith(_UPLOAD_SUFFIX):
            receive = await self._capped_body(scope, receive, send)
            if receive is None:
                return None
        return await self.app(scope, receive, send_out)

    @staticmethod
    async def _drain(receive: Callable, limit: int | None = None) -> None:
        read = 0
        while limit is None or read < limit:
            message = await receive()
            read += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    async def _capped_body(self, scope: dict, receive: Callable, send: Callable) -> Callable | None:
        """Read the body up to the cap; answer 413 (and return None) past it, else a receive that replays it."""
        too_big = f"the request body is larger than {self.max_body} bytes"
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._send_json(send, 400, "bad_request", "a malformed Content-Length header")
                    return None
                if declared > self.max_body:
                    if declared <= _DRAIN_FACTOR * self.max_body:  # read it first, so the client sees the answer
                        await self._drain(receive)
                    await self._send_json(send, 413, "body_too_large", too_big)
                    return None
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                if message.get("more_body", False):
                    await self._drain(receive, _DRAIN_FACTOR * self.max_body - size)
                await self._send_json(send, 413, "body_too_large", too_big)
                return None
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


# --- the app ------------------------------------------------------------------------------------------------------
def create_app(
    service: SearchService,
    *,
    token: str | None = None,
    with_ui: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The ASGI app of ``adsearch serve``: the JSON API, and the Gradio app at ``/`` when ``with_ui``.

    Args:
        service: The one service object the API and the app call.
        token: When set, every request must carry it (see the module docstring).
        with_ui: Mount the Gradio app (Search, Compare, Catalog tabs) at ``/``.
        max_body_bytes: Cap on request bodies (except the app's file uploads).
    """
    api = FastAPI(
        title="adsearch",
        description="Fine-grained text-to-video search for short ad videos. Errors: "
        '`{"error": {"code": ..., "message": ...}}` with a 4xx status.',
        version="1",
    )

    @api.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(exc)
        return _error(status, code, message)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @api.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @api.post("/search", tags=["search"], summary="search clips by text")
    def search(body: SearchRequest, request: Request) -> dict[str, Any]:
        """One page of hits, best first: ``hits[i].rank`` counts from 1 over the whole ranked list."""
        page = service.search(body.query, k=body.k, offset=body.offset, filters=body.filters, channels=body.channels)
        hit_json = _fast_hit if all(type(h).__name__ == "Hit" for h in page.hits) else _hit_json
        return _json_response(
            {
                "query": page.query,
                "k": page.k,
                "offset": page.offset,
                "count": len(page.hits),
                "has_more": page.has_more,
                "filters": page.filters,
                "channels": page.channels,
                "model_id": page.model_id,
                "index_version": page.index_version,
                "took_ms": round(page.took_ms, 2),
                "hits": [hit_json(h, base(request)) for h in page.hits],
            }
        )

    def clip_id_of(raw: str) -> int:
        if not raw.isdigit() or len(raw) > 19:
            raise ServiceError(f"a clip id is a non-negative integer, got {raw[:40]!r}")
        return int(raw)

    @api.get("/clips/{clip_id}", tags=["clips"], summary="a clip's texts, labels and media URLs")
    def clip(clip_id: str, request: Request) -> dict[str, Any]:
        data = service.clip(clip_id_of(clip_id))
        data["thumbnail_url"] = f"{base(request)}/media/thumbs/{data['clip_id']}.jpg"
        data["clip_url"] = f"{base(request)}/media/clips/{data['clip_id']}.mp4"
        return _json_safe(data)

    @api.get("/media/thumbs/{clip_id}.jpg", tags=["clips"], summary="a clip's thumbnail", response_class=FileResponse)
    def thumb(clip_id: str) -> FileResponse:
        return FileResponse(service.thumb_file(clip_id_of(clip_id)), media_type="image/jpeg")

    @api.get("/media/clips/{clip_id}.mp4", tags=["clips"], summary="a clip's segment", response_class=FileResponse)
    def clip_video(clip_id: str) -> FileResponse:
        return FileResponse(service.clip_file(clip_id_of(clip_id)), media_type="video/mp4")

    @api.get("/health", tags=["service"], summary="liveness and readiness")
    def health() -> dict[str, Any]:
        return _json_safe(service.health())

    @api.get("/index", tags=["service"], summary="index versions and coverage")
    def index() -> dict[str, Any]:
        return _json_safe(service.index_info())

    @api.post("/catalogs", tags=["catalogs"], status_code=202, summary="add a catalog (background job)")
    def add_catalog(body: CatalogRequest, request: Request) -> JSONResponse:
        job = service.submit_catalog(body.path, catalog=body.catalog)
        url = f"{base(request)}/jobs/{job.id}"
        return JSONResponse({**job.to_dict(), "url": url}, status_code=202, headers={"Location": url})

    @api.get("/jobs/{job_id}", tags=["catalogs"], summary="a catalog job's progress")
    def job(job_id: str) -> dict[str, Any]:
        return _json_safe(service.job(job_id).to_dict())

    if with_ui:
        import gradio as gr

        from adsearch.app import CSS, build_app

        blocks = build_app(service)
        ws = service.ws
        gr.mount_gradio_app(
            api,
            blocks.queue(),
            path="",
            allowed_paths=[str(ws.thumbs_dir.resolve())],
            blocked_paths=[
                str(p.resolve())
                for p in (
                    ws.catalog_path,
                    ws.catalog_path.with_name(ws.catalog_path.name + ".wal"),
                    ws.models_dir,
                    ws.vectors_dir,
                    ws.indexes_dir,
                    ws.catalogs_dir,
                    ws.bench_dir,
                )
            ],
            css=CSS,
            show_error=False,
            max_file_size=service.limits.max_zip_bytes,
        )
    return _Guard(api, token=token, max_body_bytes=max_body_bytes)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BackgroundServer:
    """uvicorn serving an ASGI app from a thread of this process (tests, benchmarks, the demo).

    ``with BackgroundServer(app, port=0) as srv: srv.url`` — port 0 takes a free port.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self._config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._server.run, name="adsearch-uvicorn", daemon=True)
        self.host = host

    @property
    def port(self) -> int:
        servers = getattr(self._server, "servers", [])
        for s in servers:
            for sock in s.sockets:
                return sock.getsockname()[1]
        return self._config.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> BackgroundServer:
        """Start serving; returns when the socket accepts connections.

        Raises:
            RuntimeError: the server did not start (e.g. the port is taken).
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.host}:{self._config.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
