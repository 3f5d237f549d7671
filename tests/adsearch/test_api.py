"""The search service over HTTP: a real uvicorn server on a free loopback port (a thread of the test process) in
front of the session's tiny real workspace (tests/search_workspace.py, copied: the tests publish index versions
and add a catalog). Every endpoint, the token check, bad inputs, files that must not be served, a publish during
searches, the CLI and client through the server, and a seeded fuzz pass of random payloads (never a 5xx, always a
JSON error)."""

from __future__ import annotations

import http.client
import json
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from adsearch.workspace import Workspace
from tests.search_workspace import session_workspace

TOKEN = "s3cret-token"


def call(
    url: str, method: str, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict | None = None
) -> tuple[int, Any, dict]:
    """One request; returns (status, parsed JSON or raw bytes, headers)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    content = resp.read()
    out_headers = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    if out_headers.get("content-type", "").startswith("application/json"):
        return resp.status, json.loads(content), out_headers
    return resp.status, content, out_headers


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """(workspace copy, ingest root, service, URL of the open server, URL of a token server on the same service)."""
    from adsearch.api import BackgroundServer, create_app
    from adsearch.service import SearchService

    base = session_workspace(tmp_path_factory)
    ws = Workspace.resolve(tmp_path_factory.mktemp("api") / "ws")
    shutil.copytree(base.root, ws.root, symlinks=True)
    root = ws.root.parent / "incoming"
    root.mkdir()
    service = SearchService(ws, ingest_roots=[root])
    assert service.warm() is None
    with (
        BackgroundServer(create_app(service)) as open_srv,
        BackgroundServer(create_app(service, token=TOKEN, with_ui=False)) as token_srv,
    ):
        yield ws, root, service, open_srv.url, token_srv.url
    service.close()


def _a_fine_text(ws: Workspace) -> tuple[int, str]:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        row = cat.query("SELECT clip_id, text FROM texts WHERE kind = 'fine' ORDER BY clip_id LIMIT 1")[0]
    return row["clip_id"], row["text"]


def test_health_index_and_openapi(served) -> None:
    _ws, _, _service, url, _ = served
    status, health, _ = call(url, "GET", "/health")
    assert status == 200 and health["ready"] is True and health["status"] == "ok"
    status, index, _ = call(url, "GET", "/index")
    assert status == 200 and index["published"] == health["index_version"] == index["searcher_version"]
    assert index["clips"]["searchable"] == index["clips"]["embedded"] > 0 and index["clips"]["not_indexed"] == 0
    assert [v["name"] for v in index["versions"] if v["published"]] == [index["published"]]
    status, spec, _ = call(url, "GET", "/openapi.json")
    assert status == 200 and {"/search", "/clips/{clip_id}", "/health", "/index", "/catalogs", "/jobs/{job_id}"} <= set(
        spec["paths"]
    )
    status, page, _headers = call(url, "GET", "/docs")
    assert status == 200 and b"swagger" in page.lower()


def test_search_pages_filters_and_clip(served) -> None:
    ws, _, _, url, _ = served
    clip_id, text = _a_fine_text(ws)
    status, full, _ = call(url, "POST", "/search", {"query": text, "k": 10})
    assert status == 200 and full["count"] == 10 and full["has_more"] is True
    assert [h["rank"] for h in full["hits"]] == list(range(1, 11))
    scores = [h["score"] for h in full["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all("path" not in h and "thumb" not in h for h in full["hits"]), "server paths stay on the server"
    status, page2, _ = call(url, "POST", "/search", {"query": text, "k": 5, "offset": 5})
    assert status == 200 and [h["clip_id"] for h in page2["hits"]] == [h["clip_id"] for h in full["hits"][5:]]
    assert [h["rank"] for h in page2["hits"]] == list(range(6, 11))

    industry = full["hits"][0]["labels"]["industry"]
    status, filtered, _ = call(url, "POST", "/search", {"query": text, "k": 50, "filters": {"industry": [industry]}})
    assert status == 200 and filtered["count"] > 0
    assert {h["labels"]["industry"] for h in filtered["hits"]} == {industry}
    status, visual, _ = call(url, "POST", "/search", {"query": text, "k": 3, "channels": ["visual"]})
    assert status == 200 and visual["count"] == 3

    status, clip, _ = call(url, "GET", f"/clips/{clip_id}")
    assert status == 200 and clip["clip_id"] == clip_id and clip["texts"]["fine"] == text
    assert set(clip["labels"]) >= {"industry", "product", "game", "split"} and clip["end_s"] > clip["start_s"]
    for key, kind in (("thumbnail_url", "image/jpeg"), ("clip_url", "video/mp4")):
        path = clip[key].removeprefix(url)
        status, content, headers = call(url, "GET", path)
        assert status == 200 and headers["content-type"] == kind and len(content) > 500, key
    status, err, _ = call(url, "GET", "/clips/4242")
    assert status == 404 and "no clip 4242" in err["error"]["message"]


BAD_SEARCHES = [
    ({"query": "", "k": 5}, 400, "the query is empty"),
    ({"query": "   ", "k": 5}, 400, "the query is empty"),
    ({"query": "a red car", "k": 101}, 400, "k must be between 1 and 100"),
    ({"query": "a red car", "k": 10**9}, 400, "k must be between 1 and 100"),
    ({"query": "a red car", "k": 0}, 400, "k must be between 1 and 100"),
    ({"query": "a red car", "k": "5"}, 422, "k: Input should be a valid integer"),
    ({"query": "a red car", "offset": 995, "k": 10}, 400, "paged up to 1000"),
    ({"query": "a red car", "offset": -1}, 400, "offset must be 0 or more"),
    ({"query": "a red car", "filters": {"colour": "red"}}, 400, "unknown filter field(s) ['colour']"),
    ({"query": "a red car", "filters": {"industry": "golf"}}, 400, "unknown industry 'golf'; known values:"),
    ({"query": "a red car", "filters": {"industry": 5}}, 422, "filters.industry"),
    ({"query": "a red car", "channels": ["no-such-channel"]}, 400, "unknown channel(s) ['no-such-channel']"),
    ({"query": "a red car", "nonsense": 1}, 422, "nonsense: unknown field"),
    ({"k": 5}, 422, "query: required"),
    ({"query": 5}, 422, "query: Input should be a valid string"),
    ({"query": "x" * 5000}, 400, "the limit is 2000"),
    ([1, 2, 3], 422, "Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_SEARCHES, ids=[m for _, _, m in BAD_SEARCHES])
def test_bad_searches_are_json_4xx_with_a_message(served, body: Any, status: int, message: str) -> None:
    url = served[3]
    got, data, _ = call(url, "POST", "/search", body)
    assert got == status and message in data["error"]["message"], data


def test_non_json_oversized_and_unknown_routes(served) -> None:
    url = served[3]
    status, data, _ = call(url, "POST", "/search", raw=b'{"query": "a red car", ')
    assert status == 400 and data["error"]["code"] == "invalid_json"
    status, data, _ = call(url, "POST", "/search", raw=b"\xff\xfe not utf-8")
    assert status == 400 and data["error"]["code"] == "invalid_json"
    status, data, _ = call(url, "POST", "/search", raw=json.dumps({"query": "a" * 1_000_100}).encode())
    assert status == 413 and "larger than 1000000 bytes" in data["error"]["message"]
    status, data, _ = call(url, "GET", "/search")  # the wrong method falls through to the app mounted at /
    assert status in (404, 405) and isinstance(data, dict)
    status, data, _ = call(url, "GET", "/clips/not-a-number")
    assert status == 400 and "non-negative integer" in data["error"]["message"]
    status, data, _ = call(url, "GET", "/jobs/nope")
    assert status == 404 and "no job" in data["error"]["message"]


def test_token_is_checked_on_every_call(served) -> None:
    url = served[4]
    for method, path, body in (
        ("GET", "/health", None),
        ("POST", "/search", {"query": "a car"}),
        ("GET", "/docs", None),
    ):
        status, data, headers = call(url, method, path, body)
        assert status == 401 and data["error"]["code"] == "unauthorized" and headers["www-authenticate"] == "Bearer"
        status, _, _ = call(url, method, path, body, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, _ = call(url, method, path, body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, path
    status, _, headers = call(url, "GET", f"/health?token={TOKEN}")  # a browser's first visit sets a cookie
    assert status == 200 and headers["set-cookie"].startswith(f"adsearch_token={TOKEN};")
    status, _, _ = call(url, "GET", "/index", headers={"Cookie": f"adsearch_token={TOKEN}"})
    assert status == 200


def test_a_non_loopback_host_needs_a_token(served, capsys: pytest.CaptureFixture[str]) -> None:
    from adsearch.api import is_loopback
    from adsearch.cli import main

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    ws = served[0]
    assert main(["serve", "--workspace", str(ws.root), "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "serves other machines: give a token" in capsys.readouterr().err


def test_workspace_files_are_not_served(served) -> None:
    """Issue 15 defect 11: the app served catalog.duckdb and model.safetensors through /gradio_api/file=."""
    ws, _, _, url, _ = served
    secrets = [
        ws.catalog_path,
        ws.models_dir / "retriever-tiny" / "model.safetensors",
        ws.models_dir / "retriever-tiny",
    ]
    secrets += [next(ws.indexes_dir.rglob("index.faiss")), next(ws.catalogs_dir.rglob("*.mp4"))]
    for path in secrets:
        assert path.exists()
        for prefix in ("/gradio_api/file=", "/file="):
            status, _, _ = call(url, "GET", f"{prefix}{path}")
            assert status in (403, 404), f"{prefix}{path} answered {status}"
    thumb = next(ws.thumbs_dir.rglob("*.jpg"))
    status, _, _ = call(url, "GET", f"/gradio_api/file={thumb}")
    assert status == 200, "thumbnails stay viewable in the app"


def test_searches_keep_answering_through_a_publish(served) -> None:
    from adsearch.index import build

    ws, _, _service, url, _ = served
    _, text = _a_fine_text(ws)
    before = call(url, "GET", "/health")[1]["index_version"]
    errors: list[Any] = []
    versions: set[str] = set()
    stop = threading.Event()

    def client(i: int) -> None:
        n = 0
        while not stop.is_set() or n < 5:
            status, data, _ = call(url, "POST", "/search", {"query": f"{text} {i} {n}", "k": 5})
            if status != 200 or data["count"] != 5:
                errors.append((status, data))
            else:
                versions.add(data["index_version"])
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        published = build(ws, model="retriever-tiny", progress=False).version
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    assert published != before
    status, after, _ = call(url, "POST", "/search", {"query": text, "k": 5})
    assert status == 200 and after["index_version"] == published, "the new version is searched without a restart"
    assert versions <= {before, published}


def test_add_a_catalog_as_a_job(served, tmp_path: Path) -> None:
    from corpus.synth import generate_catalog

    ws, root, service, url, _ = served
    status, data, _ = call(url, "POST", "/catalogs", {"path": str(ws.catalog_path)})
    assert status == 400 and "outside the folders this server ingests from" in data["error"]["message"]
    status, data, _ = call(url, "POST", "/catalogs", {"path": str(root / "missing.jsonl")})
    assert status == 404 and "does not exist" in data["error"]["message"]
    status, data, _ = call(url, "POST", "/catalogs", {"path": str(root / ".." / ws.root.name / "catalog.duckdb")})
    assert status == 400, "'..' does not lead out of the roots"

    new = generate_catalog(root / "new-ads", n_clips=4, seed=11, workers=1)
    status, job, headers = call(url, "POST", "/catalogs", {"path": str(new.manifest_path), "catalog": "new-ads"})
    assert status == 202 and job["state"] in ("queued", "running") and headers["location"].endswith(job["id"])
    done = service.wait_job(job["id"], timeout_s=600)
    status, job, _ = call(url, "GET", f"/jobs/{job['id']}")
    assert status == 200 and job["state"] == "done" and job["progress"] == 1.0, job
    assert "0 failed" in job["summary"] and done.error is None
    status, page, _ = call(url, "POST", "/search", {"query": "a product", "k": 10, "filters": {"catalog": "new-ads"}})
    assert status == 200 and page["count"] > 0 and {h["catalog_id"] for h in page["hits"]} == {"new-ads"}
    status, index, _ = call(url, "GET", "/index")
    assert index["clips"]["not_indexed"] == 0 and index["published"] == page["index_version"]


def test_search_cli_and_client_through_the_server(served, capsys: pytest.CaptureFixture[str]) -> None:
    from adsearch.cli import main
    from adsearch.client import ApiError, Client

    ws, _, _, url, token_url = served
    _, text = _a_fine_text(ws)
    assert main(["search", text, "--server", url, "--k", "3", "--split", "test"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "score", "clip"] and len(lines) == 4 and all("[test]" in x for x in lines[1:])
    assert main(["search", "", "--server", url]) == 2
    assert "the query is empty" in capsys.readouterr().err
    assert main(["search", "a car", "--server", token_url]) == 2
    assert "needs a token" in capsys.readouterr().err
    assert main(["search", "a car", "--server", token_url, "--token", TOKEN, "--k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3

    client = Client(token_url, token=TOKEN)
    page = client.search(text, k=2, offset=1)
    assert [h["rank"] for h in page["hits"]] == [2, 3]
    assert client.clip(page["hits"][0]["clip_id"])["clip_id"] == page["hits"][0]["clip_id"]
    assert client.health()["ready"] and client.index()["published"]
    with pytest.raises(ApiError) as e:
        client.search(text, k=1000)
    assert e.value.status == 400 and "k must be between" in e.value.message
    with pytest.raises(ApiError, match="cannot reach"):
        Client("http://127.0.0.1:9", timeout_s=5).health()


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 7, 100, 101, 2**31, 2**63, -(2**70), 10**40])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e-300, 3.0])
    if kind in (4, 5):
        alphabet = ["a", " ", "é", "汉", "🎬", "\u0000", "\u202e", "'", '"', "\\", "%", ";--", "\ufeff"]
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 40, 3000])))
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["query", "k", "offset", "filters", "channels", "industry", "catalog", "path", "x", ""]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _random_body(rng: random.Random) -> bytes:
    choice = rng.randrange(8)
    if choice == 0:  # raw bytes: invalid UTF-8, truncations, lone surrogates escaped in JSON
        return rng.choice(
            [
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
                b'{"query": "\\ud800 x", "k": 3}',
                b'{"query": "a", "k": 3',
                b"[" * 5000 + b"]" * 5000,
                b'{"query": "a", "k": NaN}',
                b'{"query": "a", "k": 1e400}',
                b"",
            ]
        )
    body = _random_value(rng)
    if choice < 5:  # mostly well-formed search requests with one field broken
        body = {"query": "a woman dancing", "k": 5}
        body[rng.choice(["query", "k", "offset", "filters", "channels"])] = _random_value(rng)
        if rng.random() < 0.3:
            body["filters"] = {rng.choice(["industry", "game", "catalog", "split", "bogus"]): _random_value(rng)}
    return json.dumps(body).encode()


def test_fuzz_random_payloads_never_5xx(served) -> None:
    """Issue 15 fuzz pass (API): seeded random payloads, types and sizes; every answer < 500 and JSON."""
    url = served[3]
    rng = random.Random(1234)
    seen: dict[int, int] = {}
    for i in range(300):
        target = rng.random()
        if target < 0.7:
            method, path, raw = "POST", "/search", _random_body(rng)
        elif target < 0.8:
            method, path, raw = "POST", "/catalogs", _random_body(rng)
        elif target < 0.9:
            segment = rng.choice(
                ["0", "-1", "99999999999999999999999", "1e3", "%00", "abc", str(2**63), "%F0%9F%98%80"]
            )
            method, path, raw = "GET", f"/clips/{segment}", None
        else:
            method, path, raw = "GET", f"/jobs/{rng.choice(['x', '../etc', '0' * 300, '%ff'])}", None
        status, data, _headers = call(url, method, path, raw=raw)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (i, path, raw[:200] if raw else None, data)
        if status >= 400:
            # API routes answer {"error": {...}}; a path outside them reaches the app mounted at / ({"detail": ...})
            message = data.get("error", {}).get("message") or data.get("detail") if isinstance(data, dict) else None
            assert message, (i, path, raw[:200] if raw else None, data)
    assert seen.get(200, 0) > 0 and sum(v for k, v in seen.items() if k >= 400) > 100, seen
