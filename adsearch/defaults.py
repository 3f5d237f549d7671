"""The product's defaults, each defined once (docs/ARCHITECTURE.md, "Defaults: where each one is defined").

A default lives in the lowest package that can hold it and is imported from there: the architecture trained by
default in ``retrieval.registry`` (``DEFAULT_CONFIG``), the captioner architectures per kind in
``captioner.registry`` (``DEFAULT_CONFIGS``), the hits per query in ``indexer.channels`` (``DEFAULT_K``). The names
of the workspace (which checkpoint folder under ``<workspace>/models``, which shipped pretrained tag) are the
product's and live here. This module imports nothing heavy (no torch, no captioner): the CLI reads it while
building its parser, so it re-exports only the light library defaults.
"""

from __future__ import annotations

from indexer.channels import DEFAULT_K
from retrieval.registry import DEFAULT_CONFIG as DEFAULT_RETRIEVER_CONFIG

__all__ = [
    "DEFAULT_K",
    "DEFAULT_PRETRAINED_TAG",
    "DEFAULT_RETRIEVER",
    "DEFAULT_RETRIEVER_CONFIG",
    "captioner_name",
    "retriever_name",
]


def retriever_name(config: str) -> str:
    """The checkpoint folder (``--model``) a retriever of architecture ``config`` trains or installs into by default."""
    return f"retriever-{config}"


def captioner_name(kind: str) -> str:
    """The checkpoint folder (``--model``) of the ``kind`` ("fine" or "general") captioner by default."""
    return f"captioner-{kind}"


# "retriever-tiny": the checkpoint every command reads unless given --model, and what train-retriever and the demo
# write with their defaults.
DEFAULT_RETRIEVER = retriever_name(DEFAULT_RETRIEVER_CONFIG)
DEFAULT_PRETRAINED_TAG = "synth-v2"  # the shipped retriever weights the demo installs (retrieval.list_pretrained())
