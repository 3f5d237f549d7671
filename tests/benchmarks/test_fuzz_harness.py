"""benchmarks.fuzz itself: a finding of a fuzz run can be replayed (same seed -> same files, failing files kept)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from benchmarks.fuzz import fuzz_media, write_seed_videos


def test_seed_videos_do_not_depend_on_the_folder(tmp_path: Path) -> None:
    # the seed videos' pixels came from len(str(path)): a fuzz run in a folder of another name length (pytest-9 vs
    # pytest-10, or a replay outside the run's temporary folder) broke other videos, so a finding could not be replayed
    a = write_seed_videos(tmp_path / "a", small=True)
    b = write_seed_videos(tmp_path / "a-much-longer-folder-name" / "seeds", small=True)
    assert [p.name for p in a] == [p.name for p in b]
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


def test_a_failing_media_case_keeps_its_file_and_names_it(tmp_path: Path) -> None:
    # a fuzz run's cases lived in a temporary folder deleted at its end: the file behind a finding was lost
    seeds = write_seed_videos(tmp_path / "seeds", small=True)[:1]
    work = tmp_path / "cases"
    deadline = time.monotonic() + 300
    done, findings = fuzz_media(seeds, random.Random(3), work, cases=2, deadline=deadline, timeout_s=0.001)
    cases = [f for f in findings if f.case != seeds[0].name]  # the seed itself is checked first
    assert done == 2 and [f.kind for f in cases] == ["hang", "hang"], findings  # no answer within 1 ms
    for f in cases:
        name = f.case.rsplit(" ", 1)[-1]  # "h264_aac.mp4 truncate@.../... case00000.mp4"
        assert (work / name).is_file(), (f.case, sorted(p.name for p in work.iterdir()))
    done, findings = fuzz_media(seeds, random.Random(3), tmp_path / "ok", cases=3, deadline=deadline, timeout_s=60)
    assert done == 3 and not findings, findings
    assert list((tmp_path / "ok").iterdir()) == [], "files that pass every check are not kept"
