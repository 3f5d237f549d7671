"""``adsearch`` commands: embed, index build/add/remove/status/prune, search (issue: indexer)."""

from __future__ import annotations

import argparse

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
