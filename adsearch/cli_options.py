"""Options shared by the ``adsearch`` commands' parsers: one name for each thing (docs/ARCHITECTURE.md, "Defaults").

``--config NAME`` names an architecture config (``retrieval.list_models()``, ``captioner.list_models()``) and
``--model NAME`` a trained checkpoint folder under ``<workspace>/models``, in every command. Before that rule,
``train-retriever --model`` and ``train-captioner --model`` named a config and ``--name`` the checkpoint folder: an
old spelling that would now mean something else fails with a message that names the option to use.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["add_checkpoint_option", "add_renamed_option", "captioner_configs", "retriever_configs"]


class _Renamed(argparse.Action):
    """An option that no longer exists: giving it is a usage error that says which option to use instead."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, use: str, **kwargs: Any) -> None:
        self.use = use
        kwargs.update(default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        parser.error(f"{option_string} was renamed: use {self.use}")


class _CheckpointName(argparse.Action):
    """``--model``: a checkpoint folder; an architecture config's name (the option's old meaning in this command)
    is refused with the option to use."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, *, configs: Callable[[], list[str]], **kwargs: Any
    ) -> None:
        self.configs = configs
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        if values in self.configs():
            parser.error(
                f"{option_string} names the checkpoint folder under <workspace>/models, and {values!r} is an "
                f"architecture config: use --config {values} (and {option_string} FOLDER to name the checkpoint)"
            )
        setattr(namespace, self.dest, values)


def add_renamed_option(parser: argparse.ArgumentParser, old: str, use: str) -> None:
    """``old`` (hidden from --help) makes the command fail with "``old`` was renamed: use ``use``"."""
    parser.add_argument(old, action=_Renamed, use=use, metavar="VALUE")


def add_checkpoint_option(
    parser: argparse.ArgumentParser, *, default: str | None, help: str, configs: Callable[[], list[str]]
) -> None:
    """``--model``: the checkpoint folder a training command writes, refusing the names ``configs()`` returns
    (called only when the option is given, so the parser imports no model package)."""
    parser.add_argument("--model", default=default, help=help, action=_CheckpointName, configs=configs)


def retriever_configs() -> list[str]:
    """``retrieval.list_models()`` (light: the retrieval registry imports no torch)."""
    from retrieval.registry import list_models

    return list_models()


def captioner_configs() -> list[str]:
    """``captioner.list_models()``."""
    from captioner.registry import list_models

    return list_models()
