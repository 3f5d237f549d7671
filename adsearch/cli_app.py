"""``adsearch`` commands: serve (the JSON API and the Gradio app on one port)."""

from __future__ import annotations

import argparse
import os

from adsearch.defaults import DEFAULT_RETRIEVER
from adsearch.workspace import Workspace

__all__ = ["TOKEN_ENV", "add_commands", "cmd_serve"]

TOKEN_ENV = "ADSEARCH_TOKEN"


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the models and the index once, then serve the API and the app until interrupted."""
    from adsearch.api import is_loopback

    ws = Workspace.resolve(args.workspace)
    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}; run `adsearch demo` or `adsearch ingest` first")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and not token:
        raise ValueError(
            f"--host {args.host} serves other machines: give a token (--token or ${TOKEN_ENV}); clients send "
            "'Authorization: Bearer <token>'"
        )
    from adsearch.app import launch

    roots = args.ingest_root or [str(ws.catalogs_dir)]
    where = f"http://{args.host}:{args.port}"
    print(
        f"adsearch serve: app {where}/  API {where}/docs  (workspace {ws.root}; token "
        f"{'required' if token else 'off'}; ingest roots {', '.join(roots)}; Ctrl-C stops)",
        flush=True,
    )
    launch(ws, host=args.host, port=args.port, model=args.model, token=token, ingest_roots=roots)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    s = sub.add_parser(
        "serve", help="serve the JSON search API (/docs) and the Gradio app (Search, Compare, Catalog) on one port"
    )
    s.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default %(default)s: this machine only)"
    )
    s.add_argument("--port", type=int, default=7860, help="port (default %(default)s)")
    s.add_argument(
        "--model", default=DEFAULT_RETRIEVER, help="retriever under <workspace>/models (default %(default)s)"
    )
    s.add_argument(
        "--token",
        default=None,
        help=f"bearer token every request must carry (default ${TOKEN_ENV}); required off loopback",
    )
    s.add_argument(
        "--ingest-root",
        action="append",
        default=None,
        help="folder catalogs may be added from through the API / Catalog tab (repeatable; default "
        "<workspace>/catalogs)",
    )
    s.set_defaults(func=cmd_serve)
