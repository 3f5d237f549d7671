"""Fuzz pass over the media readers (issue 15): broken copies of real videos in several containers and codecs.

A fixed seed and a small budget here; ``python -m benchmarks.fuzz --minutes 10`` runs the long pass. Every file is
read in a worker process with a time limit, so a hang or a decoder crash is reported as such.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from benchmarks.fuzz import fuzz_media, write_seed_videos

CASES = 150  # ~15 s on 2 cores
BUDGET_S = 40.0


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_seed_videos(tmp_path_factory.mktemp("fuzz-seeds"), small=True)


def test_broken_media_files_give_typed_errors_without_hangs_or_crashes(seeds: list[Path], tmp_path: Path) -> None:
    assert {p.suffix for p in seeds} >= {".mp4", ".avi", ".mov"}
    done, findings = fuzz_media(
        seeds, random.Random(15), tmp_path, cases=CASES, deadline=time.monotonic() + BUDGET_S, timeout_s=20.0
    )
    assert done >= 10, "the budget ran out before the fuzz pass could run"
    report = "\n".join(f"{f.kind}: {f.case}: {f.detail[:400]}" for f in findings)
    assert not findings, f"{len(findings)} findings in {done} cases:\n{report}"
