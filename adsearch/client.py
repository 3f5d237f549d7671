"""A client of the ``adsearch serve`` JSON API (standard library only: starts in milliseconds, no model imports).

    from adsearch.client import Client
    c = Client("http://127.0.0.1:7860", token=None)
    page = c.search("a woman in a red dress dancing", k=5, filters={"industry": "e-commerce"})
    for hit in page["hits"]:
        print(hit["rank"], hit["score"], hit["clip_id"], hit["texts"].get("fine"))

Every method returns the API's JSON as plain dicts; an error answer raises ``ApiError`` with the server's status
and message, and an unreachable server raises ``ApiError`` with status 0.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from adsearch.defaults import DEFAULT_K

__all__ = ["ApiError", "Client", "format_hits"]


class ApiError(Exception):
    """An error answer of the server (``status`` 4xx/5xx) or no answer at all (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status
        self.message = message


class Client:
    """The search API at ``base_url`` (e.g. ``http://127.0.0.1:7860``), with a bearer ``token`` when the server
    needs one."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"a server URL starts with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", "replace")[:300] or e.reason
            raise ApiError(e.code, message) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(0, f"cannot reach the adsearch server at {self.base_url}: {reason}") from None

    def search(
        self,
        query: str,
        *,
        k: int = DEFAULT_K,
        offset: int = 0,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        channels: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """One page of hits (``POST /search``)."""
        body: dict[str, Any] = {"query": query, "k": k, "offset": offset}
        if filters:
            body["filters"] = {f: v if isinstance(v, str) else list(v) for f, v in filters.items() if v}
        if channels is not None:
            body["channels"] = list(channels)
        return self._call("POST", "/search", body)

    def clip(self, clip_id: int) -> dict[str, Any]:
        """A clip's texts, labels and media URLs (``GET /clips/{id}``)."""
        return self._call("GET", f"/clips/{int(clip_id)}")

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return self._call("GET", "/health")

    def index(self) -> dict[str, Any]:
        """Index versions and coverage (``GET /index``)."""
        return self._call("GET", "/index")

    def add_catalog(self, path: str, *, catalog: str | None = None) -> dict[str, Any]:
        """Start adding a catalog from a server path (``POST /catalogs``); returns the job."""
        body: dict[str, Any] = {"path": path}
        if catalog is not None:
            body["catalog"] = catalog
        return self._call("POST", "/catalogs", body)

    def job(self, job_id: str) -> dict[str, Any]:
        """A catalog job's state and progress (``GET /jobs/{id}``)."""
        return self._call("GET", f"/jobs/{job_id}")

    def wait_job(self, job_id: str, *, timeout_s: float = 3600.0, poll_s: float = 1.0) -> dict[str, Any]:
        """Poll a job until it is done or failed (or ``timeout_s`` passes); returns its last state."""
        deadline = time.monotonic() + timeout_s
        job = self.job(job_id)
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(poll_s)
            job = self.job(job_id)
        return job


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_hits(hits: Sequence[Mapping[str, Any]], *, text_width: int = 60) -> str:
    """The API's hits as the fixed-width table ``adsearch search`` prints locally."""
    if not hits:
        return "no hits (no indexed clip matches the filters)"
    lines = [f"{'#':>3} {'score':>6} {'clip':>20} {'catalog':<14} {'labels':<34} {'start-end':>13}  text"]
    for h in hits:
        lab, texts = h.get("labels") or {}, h.get("texts") or {}
        labels = "/".join(v for v in (lab.get("industry"), lab.get("product") or lab.get("game")) if v)
        labels = f"{labels} [{lab.get('split') or '-'}]"
        text = texts.get("fine") or texts.get("general") or texts.get("reference") or texts.get("asr")
        lines.append(
            f"{h['rank']:>3} {h['score']:>6.3f} {h['clip_id']:>20} {_short(h.get('catalog_id'), 14):<14} "
            f"{_short(labels, 34):<34} {h['start_s']:>6.2f}-{h['end_s']:<6.2f}  {_short(text, text_width)}"
        )
    return "\n".join(lines)
