"""Progress for long loops: a tqdm bar when stderr is a terminal, else one plain log line every N seconds.

Every package may use it (``media`` is the bottom of the dependency direction). In a log file (``make demo > log
2>&1``, a CI job, a service) tqdm's carriage-return redraws pile up into kilobyte-long lines; there the bar is
replaced by an object with the same small API (``update``, ``set_postfix``, ``set_description``, ``close``,
iteration, context manager) that logs ``"desc: n/total unit (x unit/s, t s)"`` at INFO through the
``media.progress`` logger, at most once every ``ADSEARCH_PROGRESS_INTERVAL`` seconds (default 30), and a last line
at ``close`` when it logged before. An application shows these lines by giving that logger the INFO level.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

__all__ = ["DEFAULT_INTERVAL_S", "INTERVAL_ENV", "LOGGER_NAME", "LogProgress", "progress_bar", "progress_interval"]

DEFAULT_INTERVAL_S = 30.0
INTERVAL_ENV = "ADSEARCH_PROGRESS_INTERVAL"  # seconds between two progress lines when stderr is not a terminal
LOGGER_NAME = __name__  # the one logger every progress line goes through

_log = logging.getLogger(LOGGER_NAME)


def progress_interval() -> float:
    """Seconds between two progress lines: ``$ADSEARCH_PROGRESS_INTERVAL`` (>= 0), else ``DEFAULT_INTERVAL_S``."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        _log.warning("%s=%r is not a number of seconds >= 0; using %g", INTERVAL_ENV, raw, DEFAULT_INTERVAL_S)
        return DEFAULT_INTERVAL_S
    return value


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _format_postfix(ordered: dict[str, Any] | None, kwargs: dict[str, Any]) -> str:
    items = {**(ordered or {}), **kwargs}
    return ", ".join(f"{k}={v}" for k, v in items.items())


class LogProgress:
    """A progress counter that logs a line at most every ``interval`` seconds (the non-terminal ``progress_bar``).

    It mirrors the part of tqdm's API the project uses: ``n``, ``total``, ``update``, ``set_postfix``,
    ``set_postfix_str``, ``set_description``, ``close``, iteration over the wrapped iterable and ``with``.
    With ``enabled=False`` it counts and logs nothing.
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        interval: float | None = None,
        enabled: bool = True,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.enabled = enabled
        self.interval = progress_interval() if interval is None else interval
        self._log = logger or _log
        self._clock = clock
        self._start = self._last = clock()
        self._logged_n: float | None = None  # n at the last line logged (None: no line yet)
        self._postfix = ""
        self._closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("this progress bar wraps no iterable")
        try:
            for obj in self.iterable:
                yield obj
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> bool | None:
        """Count ``n`` more; logs a line when ``interval`` seconds passed since the last one (or the start)."""
        self.n += n
        if self.enabled and not self._closed:
            now = self._clock()
            if now - self._last >= self.interval:
                self._emit(now)
        return None

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Extra ``key=value`` fields shown at the end of the next line (e.g. ``failed=3``)."""
        self._postfix = _format_postfix(ordered_dict, kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Free text shown at the end of the next line."""
        self._postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Rename the bar (the start of each line)."""
        self.desc = desc or ""

    def refresh(self) -> None:
        """No-op (tqdm API): lines are written by ``update`` and ``close``."""

    def close(self) -> None:
        """Stop; logs a last line when the bar logged before and counted more since (a long loop's final state)."""
        if self._closed:
            return
        self._closed = True
        if self.enabled and self._logged_n is not None and self._logged_n != self.n:
            self._emit(self._clock())

    def line(self, now: float | None = None) -> str:
        """The progress line: ``"desc: n/total unit (rate unit/s, elapsed s[, ~eta s left])[ postfix]"``."""
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 0.0)
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = f"{self.n:g}/{self.total:g}" if self.total is not None else f"{self.n:g}"
        eta = ""
        if self.total is not None and rate > 0 and self.total > self.n:
            eta = f", ~{(self.total - self.n) / rate:.0f} s left"
        tail = f" {self._postfix}" if self._postfix else ""
        return f"{self.desc or 'progress'}: {count} {self.unit} ({rate:.3g} {self.unit}/s, {elapsed:.0f} s{eta}){tail}"

    def _emit(self, now: float) -> None:
        self._log.info("%s", self.line(now))
        self._last = now
        self._logged_n = self.n


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    interval: float | None = None,
    stream: TextIO | None = None,
) -> Any:
    """A progress bar for a long loop: tqdm on a terminal, a ``LogProgress`` (plain log lines) elsewhere.

    Args:
        iterable: Optional iterable to wrap (``for x in progress_bar(items, ...)``).
        total: Expected count (default: ``len(iterable)`` when it has one).
        desc: What runs (the bar's prefix / the start of each log line).
        unit: What is counted.
        enabled: False gives a silent bar (the ``progress=False`` of the callers).
        interval: Seconds between log lines off a terminal (default ``progress_interval()``).
        stream: Where the bar would draw (default ``sys.stderr``, tqdm's default); a bar is drawn only when it is
            a terminal.

    Returns:
        A ``tqdm.tqdm`` or a ``LogProgress``; both have ``update``, ``set_postfix``, ``close``, iteration and ``with``.
    """
    stream = sys.stderr if stream is None else stream
    if enabled and _is_terminal(stream):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc or None, unit=unit, file=stream)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, interval=interval, enabled=enabled)
