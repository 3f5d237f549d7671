"""Fuzz pass over manifest reading (issue 15): broken rows, bytes that are not UTF-8, hostile values and sizes.

Invariants: read_manifest never raises for a broken row, every untouched row loads unchanged, every row ends as a
record or an error naming file and row, and nothing that loads is invalid Unicode or over its size limit.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz import fuzz_manifests
from corpus.manifest import read_manifest


def test_generated_broken_manifests(tmp_path: Path) -> None:
    done, findings = fuzz_manifests(random.Random(15), tmp_path, cases=80, deadline=time.monotonic() + 20)
    assert done >= 20
    report = "\n".join(f"{f.kind}: {f.case}: {f.detail[:400]}" for f in findings)
    assert not findings, f"{len(findings)} findings in {done} manifests:\n{report}"


GOOD = [json.dumps({"uri": f"v{i}.mp4", "asr": f"say {i}", "split": "train"}).encode() for i in range(3)]


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b), min_size=1, max_size=4))
def test_any_bytes_between_good_jsonl_rows(tmp_path: Path, junk: list[bytes]) -> None:
    # the good rows keep their place and content whatever lines of bytes surround them
    lines = [GOOD[0], *junk, GOOD[1], GOOD[2]]
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    m = read_manifest(p)
    loaded = {r.uri: r for r in m.records}
    for i in range(3):
        assert loaded[f"v{i}.mp4"].asr == f"say {i}"
    blank = sum(not line.decode("utf-8", "replace").strip() for line in junk)
    assert len(m.records) + len(m.errors) == 3 + len(junk) - blank
    for r in m.records:
        r.uri.encode("utf-8")  # whatever loaded can be stored


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cell=st.binary(max_size=300).filter(lambda b: not set(b) & set(b'"\r\n')))
def test_any_bytes_in_a_csv_cell(tmp_path: Path, cell: bytes) -> None:
    # any bytes (not UTF-8 included) in the asr cell of row 2: rows 1 and 3 load, row 2 loads or fails alone
    p = tmp_path / "m.csv"
    p.write_bytes(b'uri,asr\na.mp4,hello\nb.mp4,"' + cell + b'"\nc.mp4,bye\n')
    m = read_manifest(p)
    assert {"a.mp4", "c.mp4"} <= {r.uri for r in m.records}
    assert len(m.records) + len(m.errors) == 3
    for r in m.records:
        (r.asr or "").encode("utf-8")  # whatever loaded can be stored
    for e in m.errors:
        assert (e.row, e.field, e.uri) == (2, "asr", "b.mp4")
