"""``adsearch`` commands: serve (the Gradio demo)."""

from __future__ import annotations

import argparse

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
