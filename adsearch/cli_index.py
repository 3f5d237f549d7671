"""``adsearch`` commands: embed, index build/add/remove/status/prune, search (issue: indexer)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from adsearch.defaults import DEFAULT_K, DEFAULT_RETRIEVER
from adsearch.engines import add_engine_args
from adsearch.workspace import Workspace

if TYPE_CHECKING:
    from indexer.runner import RunSummary

__all__ = ["add_commands"]

_MODEL_HELP = "retriever checkpoint under <workspace>/models, or its folder (default %(default)s)"
_NO_TEXT_HELP = "skip the text channels' indexes (descriptions, speech, on-screen text: BM25 + MiniLM)"


def _ws(args: argparse.Namespace) -> Workspace:
    return Workspace.resolve(args.workspace)


def _print_failures(failures: list[tuple[int, str]], failed: int) -> None:
    for clip_id, err in failures[:20]:
        print(f"  failed: clip {clip_id}: {err}", file=sys.stderr)
    if failed > 20:
        print(f"  ... {failed - 20} more failures (see the catalog's runs table)", file=sys.stderr)


def _run_status(command: str, summary: RunSummary) -> int:
    """1 when every clip failed and none was done before (nothing to show for the run), else 0: some bad clips,
    reported and recorded, are not a failed run (nor are the same bad clips failing again in a later run)."""
    if summary.failed and not summary.done and not summary.skipped:
        print(f"adsearch {command}: error: all {summary.failed} clips failed (see above)", file=sys.stderr)
        return 1
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from adsearch.index import embed_catalog

    summary = embed_catalog(
        _ws(args),
        model=args.model,
        splits=args.split,
        catalogs=args.catalog,
        batch_size=args.batch_size,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    _print_failures(summary.failures, summary.failed)
    print(summary.line())
    return _run_status("embed", summary)


def _text_indexes(args: argparse.Namespace, *, only_if_changed: bool) -> None:
    if args.no_text:
        return
    from adsearch.index import update_text_indexes

    for result in update_text_indexes(_ws(args), only_if_changed=only_if_changed):
        print(result.line())


def _query_encoder(args: argparse.Namespace) -> None:
    """Export the retriever's text side to ONNX when needed, so that `adsearch search` starts without torch."""
    from adsearch.index import export_query_encoder

    print(export_query_encoder(_ws(args), model=args.model))


def cmd_index_build(args: argparse.Namespace) -> int:
    from adsearch.index import build

    print(build(_ws(args), model=args.model, factory=args.factory).line())
    _text_indexes(args, only_if_changed=False)
    _query_encoder(args)
    return 0


def cmd_index_add(args: argparse.Namespace) -> int:
    from adsearch.index import add_catalogs

    summary, result = add_catalogs(
        _ws(args),
        model=args.model,
        batch_size=args.batch_size,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    _print_failures(summary.failures, summary.failed)
    print(summary.line())
    print(result.line())
    _text_indexes(args, only_if_changed=True)
    _query_encoder(args)
    return _run_status("index add", summary)


def cmd_index_remove(args: argparse.Namespace) -> int:
    from adsearch.index import remove_catalog

    n = remove_catalog(_ws(args), args.catalog)
    print(f"index remove: catalog {args.catalog} retired ({n} videos); search no longer returns its clips")
    return 0


def cmd_index_status(args: argparse.Namespace) -> int:
    from adsearch.index import status

    st = status(_ws(args), model=args.model)
    lines = [
        f"model {st.model_id}",
        f"published version: {st.published or '(none; run `adsearch index build`)'}",
        f"clips: {st.indexable} searchable in the catalog, {st.embedded} embedded, "
        f"{st.not_embedded} not embedded, {st.not_indexed} not in the published index",
        f"retired catalogs: {', '.join(st.retired) or '(none)'}",
        f"{'version':<32} {'pub':<3} {'n':>9} {'size MB':>8} {'recall@10':>9}  factory",
    ]
    for v in st.versions:
        m = v.meta
        recall = f"{m.recall_at_10:.3f}" if m is not None and m.recall_at_10 is not None else "-"
        lines.append(
            f"{v.name:<32} {'*' if v.published else '':<3} {m.n if m else '-':>9} {v.size_bytes / 1e6:>8.2f} "
            f"{recall:>9}  {m.factory if m else '(unreadable meta.json)'}"
        )
    if st.not_embedded or st.not_indexed:
        lines.append("run `adsearch index add` to embed and index the missing clips")
    print("\n".join(lines))
    return 0


def cmd_index_prune(args: argparse.Namespace) -> int:
    from adsearch.index import prune_index

    deleted = prune_index(_ws(args), model=args.model, keep=args.keep)
    print(f"index prune: deleted {len(deleted)}: {', '.join(deleted) or '(nothing)'}")
    return 0


def _search_server(args: argparse.Namespace) -> int:
    """``adsearch search --server URL``: the same search through a running ``adsearch serve``."""
    from adsearch.client import ApiError, Client, format_hits

    names = ("industry", "sub_industry", "product", "game", "catalog", "split")
    filters = {n: getattr(args, n) for n in names if getattr(args, n)}
    channels = getattr(args, "channels", None)
    client = Client(args.server, token=args.token or os.environ.get("ADSEARCH_TOKEN") or None)
    try:
        page = client.search(
            args.query, k=args.k, filters=filters, channels=channels.split(",") if isinstance(channels, str) else None
        )
    except ApiError as e:
        raise ValueError(e.message) from None
    print(format_hits(page["hits"]))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """One search and exit: inputs and workspace files are checked before any model loads; queries are encoded by
    the retriever's ONNX text export (made on first use) without torch, and the catalog is read, not copied."""
    if args.server:
        return _search_server(args)
    from adsearch.index import format_hits, open_searcher, require_catalog

    ws = _ws(args)
    require_catalog(ws)  # an empty workspace is told so before anything heavy is imported
    from indexer.search import Filters, check_k, check_query

    check_query(args.query)
    check_k(args.k)
    filters = Filters(
        industry=args.industry,
        sub_industry=args.sub_industry,
        product=args.product,
        game=args.game,
        catalog=args.catalog,
        split=args.split,
    )
    searcher = open_searcher(ws, model=args.model, export_onnx=True, copy_catalog=False)
    fusion = {"fusion": args.fusion} if args.fusion else {}  # default: indexer.fusion.DEFAULT_FUSION
    hits = searcher.search(args.query, k=args.k, filters=filters, channels=args.channels, **fusion)
    print(format_hits(hits))
    return 0


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_RETRIEVER, help=_MODEL_HELP)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=16, help="clips per forward pass and shard (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default %(default)s)")
    add_engine_args(p)  # --engine local|ray, --ray-address


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    e = sub.add_parser("embed", help="embed the catalog's clips with the retriever (resumable)")
    _model_arg(e)
    e.add_argument("--split", action="append", default=None, help="only this split (repeatable)")
    e.add_argument("--catalog", action="append", default=None, help="only this catalog (repeatable)")
    _run_args(e)
    e.set_defaults(func=cmd_embed)

    ix = sub.add_parser("index", help="build and manage the versioned FAISS index")
    isub = ix.add_subparsers(dest="index_command", required=True, metavar="SUBCOMMAND")
    b = isub.add_parser("build", help="build, tune and publish a new index version from the embedded clips")
    _model_arg(b)
    b.add_argument("--factory", default=None, help="force a FAISS factory string, e.g. 'IVF256,Flat' or 'HNSW32'")
    b.add_argument("--no-text", action="store_true", help=_NO_TEXT_HELP)
    b.set_defaults(func=cmd_index_build, decodes=False)
    a = isub.add_parser("add", help="embed new clips and add them to the live index (rebuilds when it must)")
    _model_arg(a)
    _run_args(a)
    a.add_argument("--no-text", action="store_true", help=_NO_TEXT_HELP)
    a.set_defaults(func=cmd_index_add)
    r = isub.add_parser("remove", help="retire a catalog from search (its rows stay)")
    r.add_argument("--catalog", required=True, help="catalog to retire")
    r.set_defaults(func=cmd_index_remove, decodes=False)
    s = isub.add_parser("status", help="versions, sizes, model, recall, and clips not yet indexed")
    _model_arg(s)
    s.set_defaults(func=cmd_index_status, decodes=False)
    p = isub.add_parser("prune", help="delete old index versions (never the published one)")
    _model_arg(p)
    p.add_argument(
        "--keep",
        type=int,
        default=1,
        help="newest versions to keep; the published one always stays (default %(default)s)",
    )
    p.set_defaults(func=cmd_index_prune, decodes=False)

    q = sub.add_parser("search", help="search clips by text")
    q.add_argument("query", help="what the clip shows")
    q.add_argument("--k", type=int, default=DEFAULT_K, help="number of hits (default %(default)s)")
    q.add_argument(
        "--server",
        default=os.environ.get("ADSEARCH_SERVER"),
        help="search through a running `adsearch serve` at this URL (default $ADSEARCH_SERVER; else locally)",
    )
    q.add_argument("--token", default=None, help="the server's bearer token (default $ADSEARCH_TOKEN)")
    _model_arg(q)
    for name in ("industry", "sub-industry", "product", "game", "catalog", "split"):
        q.add_argument(f"--{name}", action="append", default=None, help=f"only clips with this {name} (repeatable)")
    q.add_argument(
        "--channels",
        default=None,
        help="comma-separated channels among visual,description,speech,text (default: every published one)",
    )
    q.add_argument(
        "--fusion",
        default=None,
        choices=("learned", "zscore", "rrf", "score"),  # indexer.fusion.FUSION_METHODS, not imported at start-up
        help="how channels fuse (default: learned, zscore with per-query weights; zscore: fixed weights)",
    )
    q.set_defaults(func=cmd_search, decodes=False)
