"""The cut-matching metric of benchmarks.shots, and the benchmark on a small synthetic catalog."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.shots import main, match_cuts
from corpus.synth import generate_catalog


def test_match_cuts_hand_computed() -> None:
    assert match_cuts([10, 20, 30], [10, 20, 30]) == (3, 0, 0)
    assert match_cuts([11, 19, 32], [10, 20, 30]) == (2, 1, 1)  # 32 is 2 frames off: a false cut and a miss
    assert match_cuts([10, 11], [10]) == (1, 1, 0)  # one true cut matches once
    assert match_cuts([], [5]) == (0, 0, 1)
    assert match_cuts([5], []) == (0, 1, 0)
    assert match_cuts([12], [10], tolerance=2) == (1, 0, 0)


def test_benchmark_on_a_small_synthetic_catalog(tmp_path: Path) -> None:
    synth = generate_catalog(tmp_path / "c", n_clips=20, seed=5, workers=1)
    assert main(["--manifest", str(synth.manifest_path), "--out", str(tmp_path / "bench")]) == 0
    result = json.loads((tmp_path / "bench" / "shots.json").read_text())
    assert result["true_cuts"] == synth.n_clips - synth.n_videos
    assert result["precision"] >= 0.9 and result["recall"] >= 0.9, result
