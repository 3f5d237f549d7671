"""The Gradio search demo: Search, Compare and Catalog tabs over the workspace's published index.

``build_app(ws)`` returns the Blocks; ``adsearch serve`` (and ``python app.py``) launch it on 127.0.0.1. Every
handler turns a user error (empty query, unknown filter value, no index yet, missing captions) into a message
in the page; nothing reaches the browser as a stack trace.
"""

from __future__ import annotations

import functools
import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from adsearch.app_views import ANY, cut_segment, error_box, gallery_items, hit_details, result_cards
from adsearch.workspace import Workspace

__all__ = ["DEFAULT_MODEL", "FILTER_FIELDS", "build_app", "launch"]

_log = logging.getLogger(__name__)

DEFAULT_MODEL = "retriever-tiny"
FILTER_FIELDS = ("industry", "product", "game", "catalog")
_TQDM_PROGRESS = gr.Progress(track_tqdm=True)  # the Catalog tab's bar follows the pipeline's tqdm bars
CSS = """
.result-card { border: 1px solid #ddd; border-radius: 8px; padding: 8px 10px; margin: 6px 0; }
.rc-head { color: #555; margin-bottom: 4px; }
.app-error { background: #fdecea; color: #611a15; border-radius: 6px; padding: 8px 12px; }
"""


def _default_searcher_factory(ws: Workspace, model: str) -> Callable[[], Any]:
    def factory() -> Any:
        from adsearch.index import open_searcher

        return open_searcher(ws, model=model)

    return factory


class _Service:
    """The app's shared state: one searcher (opened on first use, retried after a failure) and a scratch folder."""

    def __init__(self, ws: Workspace, factory: Callable[[], Any]) -> None:
        self.ws = ws
        self._factory = factory
        self._searcher: Any = None
        self._lock = threading.Lock()
        self.scratch = Path(tempfile.mkdtemp(prefix="adsearch-app-"))

    def searcher(self) -> Any:
        with self._lock:
            if self._searcher is None:
                self._searcher = self._factory()
            return self._searcher

    def reset(self) -> None:
        """Drop the searcher so the next search opens the newly published index."""
        with self._lock:
            self._searcher = None


def _user_errors(n_outputs: int, message_at: int) -> Callable:
    """Decorator: a raised error becomes an error box in output ``message_at`` (others unchanged) and a toast."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def handler(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
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


def _filters(choices: dict[str, list[str]], values: tuple[str, ...]) -> Any:
    """The search filters of the dropdowns' values; a value the catalog does not have is a user error."""
    from indexer.search import Filters

    chosen = {}
    for name, value in zip(FILTER_FIELDS, values, strict=True):
        if not value or value == ANY:
            continue
        if value not in choices[name]:
            raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices[name][1:]) or 'none'}")
        chosen[name] = value
    return Filters(**chosen)


def _filter_choices(service: _Service) -> dict[str, list[str]]:
    try:
        values = service.searcher().filter_values()
    except (ValueError, FileNotFoundError) as e:  # no index yet: the app still opens and says so on search
        _log.warning("no filter values: %s", e)
        values = {}
    return {f: [ANY, *values.get(f, [])] for f in FILTER_FIELDS}


def _search_tab(service: _Service, choices: dict[str, list[str]]) -> None:
    with gr.Row():
        query = gr.Textbox(
            label="Query", placeholder="a woman in a pink cheongsam plays the erhu", elem_id="query", scale=4
        )
        k = gr.Slider(1, 50, value=10, step=1, label="k", scale=1, elem_id="k")
        go = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1)
    with gr.Row():
        dropdowns = [
            gr.Dropdown(choices[f], value=ANY, label=f, allow_custom_value=True, elem_id=f"filter-{f}")
            for f in FILTER_FIELDS
        ]
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
    def run_search(text: str, k_value: float, *filter_values: str) -> tuple:
        searcher = service.searcher()
        t0 = time.perf_counter()
        hits = searcher.search(text, k=int(k_value), filters=_filters(choices, filter_values))
        ms = 1000 * (time.perf_counter() - t0)
        line = f"{len(hits)} results in {ms:.1f} ms · model `{searcher.model_id}` · index `{searcher.version}`"
        if not hits:
            line += " · no clip matches these filters"
        return gallery_items(hits, service.scratch), result_cards(hits), line, hits

    @_user_errors(2, message_at=1)
    def play(hits: list, evt: gr.SelectData) -> tuple:
        hit = hits[evt.index]
        clip = cut_segment(hit.path, hit.start_s, hit.end_s, service.scratch / f"clip-{hit.clip_id}.mp4")
        return str(clip), hit_details(hit)

    inputs = [query, k, *dropdowns]
    outputs = [gallery, cards, status, hits_state]
    go.click(run_search, inputs, outputs)
    query.submit(run_search, inputs, outputs)
    gallery.select(play, [hits_state], [video, details])


def _compare_tab(service: _Service) -> None:
    from adsearch.app_compare import another_choice, compare_choices, compare_clip

    choices = compare_choices(service.ws)
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
        result = compare_clip(service.ws, service.searcher(), int(choice.split(" ", 1)[0]))
        sides = [result.side("general"), result.side("fine")]
        tops = [gallery_items(s.top, service.scratch) if s.top else None for s in sides]
        return result.summary(), sides[0].markdown(), tops[0], sides[1].markdown(), tops[1]

    @_user_errors(6, message_at=1)
    def run_random(current: str | None) -> tuple:
        # Sets the dropdown and compares in one event: a value set by a handler is not a user's `input`.
        choice = another_choice(choices, current, rng)
        return choice, *run_compare(choice)

    rng = random.Random()
    outputs = [status, *columns]
    pick.input(run_compare, [pick], outputs)
    rand.click(run_random, [pick], [pick, *outputs])


def _catalog_tab(service: _Service, model: str) -> None:
    from adsearch.app_catalog import add_catalog, index_status_markdown

    gr.Markdown(
        "Add an ad catalog: a manifest path on this machine, or a zip of videos with their manifest. "
        "It is ingested, captioned (with the trained captioners), embedded and added to the index."
    )
    with gr.Row():
        manifest = gr.Textbox(label="Manifest path (.jsonl / .csv / .parquet) or folder of videos", scale=3)
        upload = gr.File(label="…or a zip of videos + manifest", file_types=[".zip"], scale=2)
    add = gr.Button("Add catalog", variant="primary", elem_id="catalog-add")
    result = gr.Markdown(elem_id="catalog-result")
    refresh = gr.Button("Refresh index status", elem_id="index-refresh")
    status = gr.Markdown(index_status_markdown(service.ws, model), elem_id="index-status")

    @_user_errors(2, message_at=0)
    def run_add(path: str, zip_file: str | None, progress: gr.Progress = _TQDM_PROGRESS) -> tuple:
        summary = add_catalog(service.ws, path=path, zip_path=zip_file, model=model, workdir=service.scratch)
        service.reset()
        return summary, index_status_markdown(service.ws, model)

    add.click(run_add, [manifest, upload], [result, status])
    refresh.click(lambda: index_status_markdown(service.ws, model), None, [status])


def build_app(
    ws: Workspace, *, model: str = DEFAULT_MODEL, searcher_factory: Callable[[], Any] | None = None
) -> gr.Blocks:
    """The demo's Blocks (not launched).

    Args:
        ws: The workspace whose catalog and published index are searched.
        model: Retriever checkpoint name under ``models/``.
        searcher_factory: Returns the ``Searcher``; default ``adsearch.index.open_searcher(ws, model=model)``.
            Called on the first search (and again after a failure or a catalog addition).
    """
    service = _Service(ws, searcher_factory or _default_searcher_factory(ws, model))
    choices = _filter_choices(service)
    with gr.Blocks(title="adsearch — fine-grained ad video search") as app:
        gr.Markdown(f"# adsearch · fine-grained text-to-video search\nworkspace `{ws.root}` · model `{model}`")
        with gr.Tab("Search", id="search"):
            _search_tab(service, choices)
        with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
            _compare_tab(service)
        with gr.Tab("Catalog", id="catalog"):
            _catalog_tab(service, model)
    app.adsearch_scratch = service.scratch  # where cut clips and stills go, for callers that clean up
    return app


def launch(
    ws: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    model: str = DEFAULT_MODEL,
    searcher_factory: Callable[[], Any] | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Build and start the app; with ``block`` it serves until interrupted. Returns the running Blocks."""
    app = build_app(ws, model=model, searcher_factory=searcher_factory)
    allowed = {str(ws.root), str(ws.thumbs_dir.resolve()), str(app.adsearch_scratch)}
    app.queue().launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        allowed_paths=sorted(allowed),
        css=CSS,
        show_error=False,
        quiet=True,
    )
    return app
