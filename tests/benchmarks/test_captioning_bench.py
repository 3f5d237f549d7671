"""`python -m benchmarks.captioning` on a tiny ingested catalog with one-epoch captioners: Table 4 rows with the
four metrics for both captioners, the retrieval check's three query rows, and reuse of captions already written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adsearch.captioner import caption_catalog, caption_items, generated_texts
from adsearch.workspace import Workspace
from benchmarks.captioning import main
from captioner.metrics import CAPTION_METRICS, mean_words
from tests.adsearch.captioner_workspace import trained_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_workspace(tmp_path_factory, "captioning-bench")[0]


def test_benchmark_writes_table4_and_the_retrieval_check(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = Workspace(workspace)
    n_test = len(caption_items(w, ["test"]))
    # fine captions exist already (as `adsearch caption` writes them); general ones do not
    caption_catalog(w, "fine", split="test", max_new_tokens=8, progress=False)
    out = workspace / "out"
    assert main(["--workspace", str(workspace), "--out", str(out), "--batch-size", "4", "--max-new-tokens", "8"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "captioning.json").read_text())
    assert (out / "captioning.md").read_text().strip() in printed
    rows = {r["kind"]: r for r in result["table4"]}
    assert set(rows) == {"fine", "general"}
    for kind, row in rows.items():
        assert row["n"] == n_test
        for name in CAPTION_METRICS:
            assert 0.0 <= row[name] <= 1000.0, (kind, name, row[name])
        generated = generated_texts(w, kind, row["model_id"]).values()
        assert row["words"] == pytest.approx(mean_words(generated)) and row["reference_words"] > 0
    assert rows["fine"]["generated_now"] == 0, "captions `adsearch caption` wrote are reused"
    assert rows["general"]["generated_now"] == n_test
    assert rows["fine"]["reference_words"] > rows["general"]["reference_words"], "each row scored on its own task"
    ret = {r["queries"]: r for r in result["retrieval"]["rows"]}
    assert set(ret) == {"reference descriptions", "generated fine descriptions", "generated general captions"}
    assert all(r["n_queries"] == n_test and 0 <= r["R@1"] <= r["R@5"] <= r["R@10"] <= 100 for r in ret.values())
    assert "Table 4" in printed and "SVAD-VLM fine captioner" in printed


def test_benchmark_error_without_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(tmp_path)]) == 2
    assert "run `adsearch ingest` first" in capsys.readouterr().err
