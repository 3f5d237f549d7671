"""``adsearch`` commands: serve (the Gradio demo)."""

from __future__ import annotations

import argparse

from adsearch.workspace import Workspace

__all__ = ["add_commands", "cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the search demo and serve until interrupted."""
    from adsearch.app import launch

    ws = Workspace.resolve(args.workspace)
    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}; run `adsearch demo` or `adsearch ingest` first")
    print(f"adsearch serve: http://{args.host}:{args.port}  (workspace {ws.root}; Ctrl-C stops)", flush=True)
    launch(ws, host=args.host, port=args.port, model=args.model)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    s = sub.add_parser("serve", help="start the Gradio search demo (Search, Compare and Catalog tabs)")
    s.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default %(default)s: this machine only)"
    )
    s.add_argument("--port", type=int, default=7860, help="port (default %(default)s)")
    s.add_argument("--model", default="retriever-tiny", help="retriever under <workspace>/models (default %(default)s)")
    s.set_defaults(func=cmd_serve)
