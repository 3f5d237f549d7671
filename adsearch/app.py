"""The Gradio search demo: Search, Compare and Catalog tabs over the workspace's published index.

``build_app(service)`` returns the Blocks over one ``adsearch.service.SearchService`` (the same object the JSON API
calls: one searcher, one model load); ``adsearch serve`` mounts it on the API's server (``adsearch.api``), and
``launch`` does the same for the demo and tests. Every handler turns a user error (empty query, unknown filter
value, no index yet, missing captions, a path outside the ingest roots) into a message in the page; nothing
reaches the browser as a stack trace. Filter and Compare choices are read again on each page load and after each
catalog addition.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from adsearch.app_views import ANY, error_box, gallery_items, hit_details, result_cards
from adsearch.defaults import DEFAULT_K, DEFAULT_RETRIEVER
from adsearch.service import SearchService, ServiceError
from adsearch.workspace import Workspace
from indexer.channels import CHANNELS

__all__ = ["CSS", "FILTER_FIELDS", "AppServer", "build_app", "launch"]

_log = logging.getLogger(__name__)

FILTER_FIELDS = ("industry", "product", "game", "catalog")
CSS = """
.result-card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 10px; margin: 6px 0; }
.rc-head { color: #555; margin-bottom: 4px; }
.app-error { background: #fdecea; color: #611a15; border-radius: 6px; padding: 8px 12px; }
"""


def _user_errors(n_outputs: int, message_at: int) -> Callable:
    """Decorator: a raised error becomes an error box in output ``message_at`` (others unchanged) and a toast."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def handler(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ServiceError as e:
                message = e.message
            except (ValueError, FileNotFoundError, LookupError, OSError) as e:
                message = str(e)
            except Exception as e:  # an unexpected failure: logged with its trace, shown as one line
                _log.exception("app handler %s failed", fn.__name__)
                message = f"internal error ({type(e).__name__}): {e}"
            gr.Warning(message, duration=6)
            out: list[Any] = [gr.skip()] * n_outputs
            out[message_at] = error_box(message)
            return tuple(out) if n_outputs > 1 else out[0]

        return handler

    return wrap


def _filters(values: tuple[str, ...]) -> dict[str, str]:
    """The search filters of the dropdowns' values (the service checks them against the catalog)."""
    return {name: value for name, value in zip(FILTER_FIELDS, values, strict=True) if value and value != ANY}


def _filter_choices(service: SearchService) -> dict[str, list[str]]:
    values = service.filter_choices()  # empty without an index: the app still opens and says so on search
    return {f: [ANY, *values.get(f, [])] for f in FILTER_FIELDS}


def _dropdown_updates(service: SearchService) -> list[Any]:
    choices = _filter_choices(service)
    return [gr.update(choices=choices[f]) for f in FILTER_FIELDS]


def _search_tab(service: SearchService, choices: dict[str, list[str]]) -> list[Any]:
    with gr.Row():
        query = gr.Textbox(
            label="Query", placeholder="a woman in a pink cheongsam plays the erhu", elem_id="query", scale=4
        )
        k = gr.Slider(1, 50, value=DEFAULT_K, step=1, label="k", scale=1, elem_id="k")
        go = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1)
    with gr.Row():
        dropdowns = [
            gr.Dropdown(choices[f], value=ANY, label=f, allow_custom_value=True, elem_id=f"filter-{f}")
            for f in FILTER_FIELDS
        ]
        channels = gr.CheckboxGroup(
            list(CHANNELS), value=[], label="channels (none ticked: every published one)", elem_id="channels"
        )
    status = gr.Markdown(elem_id="search-status")
    gallery = gr.Gallery(
        label="Results (open one to play its clip)", columns=5, height="auto", elem_id="results", allow_preview=False
    )
    with gr.Row():
        video = gr.Video(label="Selected clip", elem_id="clip-video", autoplay=True)
        details = gr.Markdown(elem_id="clip-details")
    cards = gr.HTML(elem_id="result-cards")
    hits_state = gr.State([])

    @_user_errors(4, message_at=2)
    def run_search(text: str, k_value: float, picked: list[str], *filter_values: str) -> tuple:
        t0 = time.perf_counter()
        page = service.search(text, k=int(k_value), filters=_filters(filter_values), channels=list(picked) or None)
        ms = 1000 * (time.perf_counter() - t0)
        hits = page.hits
        line = f"{len(hits)} results in {ms:.1f} ms · model `{page.model_id}` · index `{page.index_version}`"
        if not hits:
            line += " · no clip matches these filters"
        return gallery_items(hits, service.scratch), result_cards(hits), line, hits

    @_user_errors(2, message_at=1)
    def play(hits: list, evt: gr.SelectData) -> tuple:
        hit = hits[evt.index]
        return str(service.clip_file(hit.clip_id)), hit_details(hit)

    inputs = [query, k, channels, *dropdowns]
    outputs = [gallery, cards, status, hits_state]
    go.click(run_search, inputs, outputs)
    query.submit(run_search, inputs, outputs)
    gallery.select(play, [hits_state], [video, details])
    return dropdowns


def _compare_choices(service: SearchService) -> list[str]:
    from adsearch.app_compare import compare_choices
    from adsearch.service import Unavailable

    try:
        return compare_choices(service.searcher())
    except Unavailable:
        return []


def _compare_tab(service: SearchService) -> Any:
    from adsearch.app_compare import another_choice, compare_clip

    choices = _compare_choices(service)
    with gr.Row():
        # No clip preselected: Gradio's default would select the first one without comparing it.
        pick = gr.Dropdown(choices, value=None, label="Test clip", elem_id="compare-pick", scale=4)
        rand = gr.Button("Random clip", elem_id="compare-random", scale=1)
    status = gr.Markdown(elem_id="compare-status")
    columns: list[Any] = []  # per side (general, fine): its markdown and its top-5 gallery
    with gr.Row():
        for kind, what in (("general", "general caption"), ("fine", "fine description")):
            with gr.Column():
                columns.append(gr.Markdown(elem_id=f"compare-{kind}"))
                columns.append(
                    gr.Gallery(
                        label=f"Top 5 for the {what}",
                        columns=5,
                        height=240,
                        allow_preview=False,
                        elem_id=f"compare-{kind}-top",
                    )
                )

    @_user_errors(5, message_at=0)
    def run_compare(choice: str | None) -> tuple:
        if not choice:
            raise ValueError("pick a test clip first (or press Random clip)")
        result = compare_clip(service.searcher(), int(choice.split(" ", 1)[0]))
        sides = [result.side("general"), result.side("fine")]
        tops = [gallery_items(s.top, service.scratch) if s.top else None for s in sides]
        return result.summary(), sides[0].markdown(), tops[0], sides[1].markdown(), tops[1]

    @_user_errors(6, message_at=1)
    def run_random(current: str | None) -> tuple:
        # Sets the dropdown and compares in one event: a value set by a handler is not a user's `input`.
        choice = another_choice(_compare_choices(service), current, rng)
        return choice, *run_compare(choice)

    rng = random.Random()
    outputs = [status, *columns]
    pick.input(run_compare, [pick], outputs)
    rand.click(run_random, [pick], [pick, *outputs])
    return pick


def _catalog_tab(service: SearchService, dropdowns: list[Any], pick: Any) -> None:
    from adsearch.app_catalog import index_status_markdown

    roots = ", ".join(f"`{r}`" for r in service.ingest_roots) or "(none)"
    gr.Markdown(
        "Add an ad catalog: a manifest path on this machine (under " + roots + "), or a zip of videos with their "
        "manifest. It is ingested, captioned (with the trained captioners), embedded and added to the index."
    )
    with gr.Row():
        manifest = gr.Textbox(label="Manifest path (.jsonl / .csv / .parquet) or folder of videos", scale=3)
        upload = gr.File(label="…or a zip of videos + manifest", file_types=[".zip"], scale=2)
    add = gr.Button("Add catalog", variant="primary", elem_id="catalog-add")
    result = gr.Markdown(elem_id="catalog-result")
    refresh = gr.Button("Refresh index status", elem_id="index-refresh")
    status = gr.Markdown(index_status_markdown(service.ws, service.model), elem_id="index-status")

    @_user_errors(3 + len(dropdowns), message_at=0)
    def run_add(path: str, zip_file: str | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        job = service.submit_catalog(path, zip_path=zip_file) if zip_file else service.submit_catalog(path)
        while job.state in ("queued", "running"):  # the job runs in the service's worker thread
            progress(job.progress, desc=job.stage or job.state)
            time.sleep(0.5)
        if job.state == "failed":
            raise ValueError(f"adding the catalog failed: {job.error}")
        # the service's searcher picks up the new index version itself: nothing is reopened or reloaded here
        return (
            job.summary,
            index_status_markdown(service.ws, service.model),
            gr.update(choices=_compare_choices(service)),
            *_dropdown_updates(service),
        )

    add.click(run_add, [manifest, upload], [result, status, pick, *dropdowns])
    refresh.click(lambda: index_status_markdown(service.ws, service.model), None, [status])


def build_app(service: SearchService) -> gr.Blocks:
    """The demo's Blocks (not launched) over ``service``; its searcher is opened once, on first use."""
    choices = _filter_choices(service)
    with gr.Blocks(title="adsearch — fine-grained ad video search") as app:
        gr.Markdown(
            f"# adsearch · fine-grained text-to-video search\nworkspace `{service.ws.root}` · model `{service.model}` "
            "· JSON API: [/docs](/docs)"
        )
        with gr.Tab("Search", id="search"):
            dropdowns = _search_tab(service, choices)
        with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
            pick = _compare_tab(service)
        with gr.Tab("Catalog", id="catalog"):
            _catalog_tab(service, dropdowns, pick)
        # choices are read again on each page load: a catalog added elsewhere (API, CLI) can be filtered on
        app.load(
            lambda: (gr.update(choices=_compare_choices(service)), *_dropdown_updates(service)),
            None,
            [pick, *dropdowns],
        )
    return app


class AppServer:
    """A running ``adsearch serve`` server (API + app) in a thread of this process: ``url``, ``service``,
    ``close()``."""

    def __init__(self, service: SearchService, server: Any) -> None:
        self.service = service
        self._server = server
        self.url = server.url

    def close(self) -> None:
        """Stop the server and delete the service's scratch folder."""
        self._server.stop()
        self.service.close()


def launch(
    ws: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    model: str = DEFAULT_RETRIEVER,
    searcher_factory: Callable[[], Any] | None = None,
    block: bool = True,
    token: str | None = None,
    ingest_roots: list[str | Path] | None = None,
) -> AppServer | None:
    """Serve the JSON API and the app on one port (``adsearch serve``); with ``block`` it serves until
    interrupted and returns None, else returns the running ``AppServer``.

    Raises:
        ValueError: a non-loopback ``host`` without a ``token``.
    """
    from adsearch.api import BackgroundServer, create_app, is_loopback

    if not is_loopback(host) and not token:
        raise ValueError(f"serving on {host} (not loopback) needs a token: pass --token or set ADSEARCH_TOKEN")
    service = SearchService(ws, model=model, searcher_factory=searcher_factory, ingest_roots=ingest_roots)
    why = service.warm()  # the one model load, before the first request
    if why:
        _log.warning("no search yet: %s", why)
    asgi = create_app(service, token=token)
    if block:
        import gc

        import uvicorn

        gc.freeze()  # the loaded models and indexes out of the collector's sight: no long full collections later
        try:
            uvicorn.run(asgi, host=host, port=port, log_level="warning")
        finally:
            service.close()
        return None
    return AppServer(service, BackgroundServer(asgi, host=host, port=port).start())
