"""Stage loaders for the Ray engine tests: wrappers of a real loader that die or slow down on purpose. Top-level
classes, so that the Ray workers import them by name (this module) and the test can pickle them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DieOnce:
    """Loads ``load``'s mapper; its ``at``-th call kills its own process (SIGKILL, mid-batch) the first time any
    process gets there (``marker`` records that it happened), so the restarted actor maps the batch again."""

    load: Callable[[], Callable[[list], Sequence]]
    marker: str
    at: int = 2

    def __call__(self) -> Callable[[list], Sequence]:
        inner = self.load()
        calls = 0

        def map_batch(inputs: list) -> Sequence:
            nonlocal calls
            calls += 1
            if calls == self.at and not os.path.exists(self.marker):
                Path(self.marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return inner(inputs)

        return map_batch


@dataclass(frozen=True)
class Slow:
    """Loads ``load``'s mapper and sleeps ``seconds`` before each batch (a driver can be killed mid-run)."""

    load: Callable[[], Callable[[list], Sequence]]
    seconds: float

    def __call__(self) -> Callable[[list], Any]:
        inner = self.load()

        def map_batch(inputs: list) -> Sequence:
            time.sleep(self.seconds)
            return inner(inputs)

        return map_batch


@dataclass(frozen=True)
class Broken:
    """A loader whose model fails every batch (weights that do not fit, say)."""

    def __call__(self) -> Callable[[list], Sequence]:
        def map_batch(inputs: list) -> Sequence:
            raise RuntimeError("weights do not fit the config")

        return map_batch
