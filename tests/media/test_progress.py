"""media.progress: a tqdm bar on a terminal, plain log lines (no carriage return) every N seconds elsewhere."""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

from media.progress import DEFAULT_INTERVAL_S, INTERVAL_ENV, LOGGER_NAME, LogProgress, progress_bar, progress_interval

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import logging, time
from media.progress import progress_bar
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("media.progress").setLevel(logging.INFO)  # as adsearch.cli does
bar = progress_bar(total=40, desc="work", unit="clip")
for i in range(40):
    time.sleep(0.005)
    bar.update()
    bar.set_postfix(failed=i // 10, refresh=False)
bar.close()
for _ in progress_bar(range(5), desc="wrapped"):
    pass
print("done")
"""


def test_stderr_to_a_file_gets_log_lines_and_no_carriage_return(tmp_path: Path) -> None:
    log = tmp_path / "log"
    env = {**os.environ, INTERVAL_ENV: "0.05", "PYTHONPATH": str(ROOT)}
    with log.open("wb") as err:
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT], stdout=subprocess.PIPE, stderr=err, env=env, timeout=60, check=True
        )
    assert proc.stdout.decode().strip() == "done"
    text = log.read_bytes()
    assert b"\r" not in text  # what tqdm redraws with
    lines = text.decode().splitlines()
    work = [line for line in lines if line.startswith("INFO media.progress: work: ")]
    assert 2 <= len(work) < 40  # every 0.05 s over ~0.2 s of work, not one per update
    assert work[-1].startswith("INFO media.progress: work: 40/40 clip (") and work[-1].endswith("failed=3")
    assert all(line.startswith("INFO media.progress: ") for line in lines)  # nothing else on stderr


def test_on_a_terminal_it_is_a_tqdm_bar() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=True) as terminal:
            bar = progress_bar(total=3, desc="draw", unit="clip", stream=terminal)
            assert isinstance(bar, tqdm)
            for _ in range(3):
                bar.update()
            bar.close()
            terminal.flush()
            drawn = b""
            # a pty read returns one chunk of what was written: read until nothing more arrives
            while select.select([master], [], [], 0.5)[0]:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                drawn += chunk
    finally:
        os.close(master)
    assert b"\r" in drawn and b"draw" in drawn and b"3/3" in drawn


def test_lines_at_most_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    bar = LogProgress(total=100, desc="embed", unit="clip", interval=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for _ in range(100):  # one item a second
            now[0] += 1.0
            bar.update()
        bar.set_postfix(failed=2)
        bar.close()
        bar.close()  # closing twice logs once
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert lines[0] == "embed: 30/100 clip (1 clip/s, 30 s, ~70 s left)"
    assert [line.split(" ")[1] for line in lines] == ["30/100", "60/100", "90/100", "100/100"]
    assert lines[-1] == "embed: 100/100 clip (1 clip/s, 100 s) failed=2"


def test_a_short_loop_logs_nothing_and_a_disabled_bar_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        with progress_bar(total=5, desc="quick", interval=30, stream=None) as bar:
            bar.update(5)
        assert list(progress_bar(iter(range(4)), desc="off", enabled=False, interval=0)) == [0, 1, 2, 3]
        off = progress_bar(total=2, desc="off", enabled=False, interval=0)
        off.update(2)
        off.close()
    assert off.n == 2 and bar.n == 5
    assert not [r for r in caplog.records if r.name == LOGGER_NAME]


def test_the_interval_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert progress_interval() == DEFAULT_INTERVAL_S == 30
    monkeypatch.setenv(INTERVAL_ENV, "2.5")
    assert progress_interval() == 2.5 and LogProgress(total=1).interval == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
            assert progress_interval() == DEFAULT_INTERVAL_S
        assert INTERVAL_ENV in caplog.records[-1].getMessage()
