"""The Gradio search demo: ``python app.py [--workspace WS] [--host H] [--port P] [--model M]``.

The same as ``adsearch serve``; the app itself is built in ``adsearch/app.py``.
"""

from __future__ import annotations

import sys

from adsearch.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    head = argv[:2] if argv[:1] == ["--workspace"] else []  # the global option goes before the command
    sys.exit(main([*head, "serve", *argv[len(head) :]]))
