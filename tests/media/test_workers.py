"""``media.workers.die_with_parent``: pool workers end when the process that started them is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from media.workers import die_with_parent

    def work(_):
        os.write(1, f"{os.getpid()}\\n".encode())  # one write: the two workers' lines never interleave
        time.sleep(120)

    if __name__ == "__main__":
        init = die_with_parent if sys.argv[1] == "guarded" else None
        args = (os.getpid(),) if init else ()
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=ctx, initializer=init, initargs=args) as pool:
            list(pool.map(work, range(2)))
    """
)


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run_and_kill(tmp_path, mode: str) -> list[int]:
    script = tmp_path / "pool.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, env=env)
    workers = [int(proc.stdout.readline()) for _ in range(2)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # never leak them into the rest of the suite
        os.kill(p, signal.SIGKILL)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_with_a_killed_parent_and_would_not_without_the_initializer(tmp_path):
    assert _run_and_kill(tmp_path, "guarded") == []
    assert len(_run_and_kill(tmp_path, "plain")) == 2  # the control: plain spawn workers outlive their parent
