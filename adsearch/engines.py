"""Which engine runs a stage (``--engine local|ray``, ``--ray-address``): the local runner or Ray Data.

``ray_options`` checks the choice before anything heavy loads and names the stage's folder under
``<workspace>/ray/`` (exported clip rows and result shards not yet committed; see ``indexer.ray_engine``).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from typing import TYPE_CHECKING

from adsearch.workspace import Workspace

if TYPE_CHECKING:
    from indexer.stage import RayOptions

__all__ = ["ENGINES", "add_engine_args", "ray_options"]

ENGINES = ("local", "ray")
INSTALL_HINT = "--engine ray needs Ray Data: pip install 'adsearch[ray]' (or: pip install 'ray[data]')"


def ray_options(ws: Workspace, stage: str, *, engine: str = "local", address: str | None = None) -> RayOptions | None:
    """``RayOptions`` for ``stage`` (e.g. ``embed-<model id>``, a folder name) when ``engine`` is "ray", else None.

    Raises:
        ValueError: an unknown engine, ``address`` without the Ray engine, or Ray not installed (the message says
            how to install it).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if engine == "local":
        if address:
            raise ValueError("--ray-address needs --engine ray")
        return None
    if importlib.util.find_spec("ray") is None:
        raise ValueError(INSTALL_HINT)
    from indexer.stage import RayOptions

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # Ray Data's per-operator progress lines
    return RayOptions(work_dir=ws.root / "ray" / stage, address=address)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--ray-address`` on a stage command's parser."""
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process's runner (default); ray: Ray Data (pip install 'adsearch[ray]')",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="--engine ray: the cluster to join (e.g. ray://head:10001 or auto; default: a local Ray for the run)",
    )
