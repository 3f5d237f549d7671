"""`adsearch demo` on a tiny catalog: every step runs, and a second run reuses what the first one built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adsearch.cli import main
from adsearch.defaults import DEFAULT_PRETRAINED_TAG
from captioner import DEFAULT_CONFIGS
from captioner.pretrained_tags import tag_dir as captioner_tag_dir
from indexer.catalog import open_catalog
from retrieval.pretrained_tags import tag_dir


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the whole demo, training included: ~4 min on 2 idle cores, 10+ on a loaded machine
@pytest.mark.parametrize("from_scratch", [False, True], ids=["shipped-retriever", "from-scratch"])
def test_demo_runs_then_reuses(tmp_path: Path, capsys: pytest.CaptureFixture[str], from_scratch: bool) -> None:
    args = ["--workspace", str(tmp_path), "demo", "--clips", "24", "--workers", "1", "--no-serve"]
    args += ["--from-scratch"] if from_scratch else []
    assert main(args) == 0
    first = capsys.readouterr().out
    retriever_step = "train-retriever" if from_scratch else "retriever"
    captioner_step = "train-captioner" if from_scratch else "captioner"  # the shipped captioners, else trained here
    steps = ("synth", "ingest", retriever_step, f"{captioner_step} fine", f"{captioner_step} general",
             "caption fine", "caption general", "embed + index", "recall")  # fmt: skip
    for step in steps:
        assert f"{step} " in first.split("== step times:")[1], step
    recall = json.loads((tmp_path / "bench" / "recall.json").read_text())
    queried = {r["query"] for r in recall["sets"][0]["rows"]}
    assert {"general", "reference"} <= queried, queried
    assert recall["sets"][0]["sources"]["general"].startswith("tiny-general-"), "general queries are generated"
    with open_catalog(tmp_path / "catalog.duckdb", read_only=True) as cat:
        generated = cat.query("SELECT t.kind, count(*) AS n FROM texts t WHERE t.source LIKE 'tiny-%' GROUP BY t.kind")
        n_clips = cat.query("SELECT count(*) AS n FROM clips")[0]["n"]
        retriever_id = json.loads((tmp_path / "models" / "retriever-tiny" / "config.json").read_text())["model_id"]
    # every clip has a caption of each kind, for the description channel (a 24-clip catalog trains too little for
    # the fine text to be usable)
    assert {r["kind"]: r["n"] for r in generated} == {"fine": n_clips, "general": n_clips}
    with open_catalog(tmp_path / "catalog.duckdb", read_only=True) as cat:
        tags = cat.query("SELECT count(*) AS n, min(source) AS source FROM texts WHERE kind = 'tags'")[0]
    if from_scratch:  # the shipped tagger does not pair with captioners trained here
        assert tags["n"] == 0 and "(no attribute tags" in first
    else:
        assert tags["n"] == n_clips and tags["source"].startswith("tagger-")
        assert "tag " in first.split("== step times:")[1]
    shipped = json.loads((tag_dir("tiny", DEFAULT_PRETRAINED_TAG) / "config.json").read_text())["model_id"]
    assert (retriever_id == shipped) is not from_scratch
    for kind in ("fine", "general"):
        installed = json.loads((tmp_path / "models" / f"captioner-{kind}" / "config.json").read_text())["model_id"]
        card_file = captioner_tag_dir(DEFAULT_CONFIGS[kind], DEFAULT_PRETRAINED_TAG) / "config.json"
        card = json.loads(card_file.read_text())
        assert (installed == card["model_id"]) is not from_scratch, kind
    assert "index build: built " in first, "the first run builds the index"
    models = {p: (tmp_path / "models" / p / "model.safetensors").stat().st_mtime_ns
              for p in ("retriever-tiny", "captioner-fine", "captioner-general")}  # fmt: skip

    assert main(args) == 0
    second = capsys.readouterr().out
    assert " 0 ok, 0 failed, " in second, "the second ingest must add nothing"
    assert "(0 rendered now)" in second and "(0 rendered now)" not in first
    for name, mtime in models.items():
        assert (tmp_path / "models" / name / "model.safetensors").stat().st_mtime_ns == mtime, name
    assert "index unchanged: nothing to add" in second
    assert "nothing changed since" in second, "the recall table is reused when its inputs are unchanged"
