"""``python -m benchmarks.recall``: the user-style query rows and the ceiling of shared query texts (Table 8 read
correctly), on the tiny real workspace, and the rank rules they rest on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adsearch.workspace import Workspace
from benchmarks._recall_data import load_gallery
from benchmarks.recall import main, shared_text_ceiling
from benchmarks.user_queries import best_match_ranks, load_query_sets
from retrieval.metrics import ranks_from_similarity
from tests.search_workspace import session_workspace


@pytest.fixture(scope="module")
def search_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return session_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def run(search_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """One benchmark run: (recall.json, printed text)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("bench")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--workspace", str(search_ws.root), "--out", str(out), "--kmax", "10", "--no-progress"]) == 0
    return json.loads((out / "recall.json").read_text()), buf.getvalue()


def test_best_match_ranks_count_only_non_matching_clips_at_or_above_the_best_match() -> None:
    sim = np.array([[0.9, 0.5, 0.9, 0.1], [0.2, 0.8, 0.8, 0.3], [0.1, 0.2, 0.3, 0.4]])
    mask = np.array([[0, 0, 1, 1], [0, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
    # row 0: a non-matching clip ties the best match (tie-safe: 2); row 1: two matches tie (1); row 2: last
    assert best_match_ranks(sim, mask).tolist() == [2, 1, 4]
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 5, size=(40, 12)).astype(float)  # many ties
    targets = rng.integers(0, 12, size=40)
    one = np.zeros_like(sim, dtype=bool)
    one[np.arange(40), targets] = True
    np.testing.assert_array_equal(best_match_ranks(sim, one), ranks_from_similarity(sim, targets))
    with pytest.raises(ValueError, match="at least one matching"):
        best_match_ranks(sim, np.zeros_like(one))


def test_shared_text_ceiling_is_reached_by_a_perfect_model_and_never_beaten() -> None:
    texts = ["a", "a", "a", "b", "c", "c"]
    ceiling = shared_text_ceiling(texts)
    assert ceiling["R@1"] == pytest.approx(50.0) and ceiling["R@5"] == 100.0 and ceiling["MdR"] == 1.5
    assert ceiling["distinct"] == 3 and ceiling["n"] == 6
    # A perfect model: the clips of one text ranked first, in some order; it reaches the ceiling.
    perfect = np.array([[3, 2, 1, 0, 0, 0]] * 3 + [[0, 0, 0, 3, 0, 0]] + [[0, 0, 0, 0, 2, 1]] * 2, dtype=float)
    assert 100 * np.mean(ranks_from_similarity(perfect) == 1) == ceiling["R@1"]
    # Any model gives identical texts identical rows: none beats the ceiling.
    rng = np.random.default_rng(1)
    for _ in range(300):
        rows = {t: rng.normal(size=6) for t in "abc"}
        sim = np.array([rows[t] for t in texts])
        ranks = ranks_from_similarity(sim)
        for k in (1, 5):
            assert 100 * np.mean(ranks <= k) <= ceiling[f"R@{k}"] + 1e-9


def test_general_row_is_printed_with_its_ceiling(run: tuple[dict, str], search_ws: Workspace) -> None:
    result, printed = run
    test_set = result["sets"][0]
    general = load_gallery(search_ws, "test").queries["general"][0]
    assert len(set(general)) < len(general), "the tiny catalog's general captions repeat"
    ceiling = test_set["ceilings"]["general"]
    assert ceiling == pytest.approx(shared_text_ceiling(general))
    assert ceiling["R@1"] == pytest.approx(100 * len(set(general)) / len(general))
    plain = next(r for r in test_set["rows"] if r["query"] == "general" and r["scoring"] == "plain")
    for k in ("R@1", "R@5", "R@10"):
        assert plain[k] <= ceiling[k]
    assert test_set["ceilings"]["reference"]["R@1"] == 100.0  # every reference description is its clip's own
    line = next(x for x in printed.splitlines() if "general: ceiling" in x)
    assert f"any model ({ceiling['distinct']} distinct texts)" in line
    assert "reference: ceiling" not in printed


def _independent_ranks(search_ws: Workspace, texts: list[str], answers: list[set[int]], gallery: list[int]) -> list:
    """Each query's rank by a plain loop over one FAISS search per query (not the benchmark's matrix code)."""
    from indexer.faiss_index import search
    from indexer.versions import load_index
    from retrieval import encode_queries, load_checkpoint, read_checkpoint_meta

    model_dir = search_ws.models_dir / "retriever-tiny"
    net = load_checkpoint(model_dir)
    index = load_index(search_ws.indexes_dir, str(read_checkpoint_meta(model_dir)["model_id"])).index
    ranks = []
    for q, good in zip(encode_queries(net, texts), answers, strict=True):
        scores, ids = search(index, q, len(gallery), allowed_ids=np.array(gallery, dtype=np.int64))
        got = dict(zip(ids[0].tolist(), scores[0].tolist(), strict=True))
        assert set(got) == set(gallery)
        best = max(got[c] for c in good)
        ranks.append(1 + sum(1 for c, s in got.items() if c not in good and s >= best))
    return ranks


def test_user_queries_scored_on_the_test_split_and_the_whole_catalog(
    run: tuple[dict, str], search_ws: Workspace
) -> None:
    from indexer.catalog import open_catalog

    result, printed = run
    uq = result["user_queries"]
    assert uq["query_split"] == "test" and uq["notes"] == []
    (cat,) = uq["catalogs"]
    assert Path(cat["file"]).name == "user_queries.jsonl" and cat["n_unmapped"] == 0
    with open_catalog(search_ws.catalog_path, read_only=True) as c:
        split_of = {r["clip_id"]: r["split"] for r in c.clips_with_texts()}
    test_clips = sorted(k for k, s in split_of.items() if s == "test")
    (qs,) = load_query_sets(search_ws)
    chosen = [i for i, src in enumerate(qs.source_clip) if split_of.get(src) == "test"]
    assert cat["n_queries"] == len(chosen) == 2 * len(test_clips)
    rows = {u["gallery"]: u for u in cat["sets"]}
    assert list(rows) == ["test", "all"]
    assert rows["test"]["n_gallery"] == len(test_clips) and rows["all"]["n_gallery"] == len(split_of)
    texts = [qs.texts[i] for i in chosen]
    for name, gallery in (("test", test_clips), ("all", sorted(split_of))):
        row = rows[name]
        answers = [set(qs.answers[i]) & set(gallery) for i in chosen]
        assert row["n"] == len(chosen)
        assert row["mean_answers"] == pytest.approx(np.mean([len(a) for a in answers]))
        ranks = np.array(_independent_ranks(search_ws, texts, answers, gallery))
        for k in (1, 5, 10):
            assert row[f"R@{k}"] == pytest.approx(100 * np.mean(ranks <= k)), (name, k)
        assert row["MdR"] == pytest.approx(np.median(ranks))
        assert sum(v["n"] for v in row["by_attributes"].values()) == row["n"]
    assert rows["all"]["mean_answers"] >= rows["test"]["mean_answers"]
    for name in ("test", "all"):
        assert any(
            "user-style (held-out wording)" in x and f"{rows[name]['n_gallery']} clips" in x
            for x in printed.splitlines()
        )
    assert "### User-style queries by number of stated attributes" in printed


def _copy(ws: Workspace, dest: Path) -> Workspace:
    shutil.copytree(ws.root, dest, symlinks=True)
    return Workspace.resolve(dest)


def test_query_file_found_by_catalog_name_and_missing_or_foreign_files_are_notes(
    search_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from corpus.synth import USER_QUERIES_NAME, build_records, plan_catalog, user_queries
    from corpus.synth.queries import write_user_queries
    from indexer.catalog import open_catalog

    ws = _copy(search_ws, tmp_path / "ws")
    with open_catalog(ws.catalog_path) as cat:  # a moved workspace: the manifest path it recorded is gone
        cat.con.execute("UPDATE catalogs SET source = '/nonexistent/manifest.jsonl'")
        (catalog_id,) = [r["catalog_id"] for r in cat.query("SELECT catalog_id FROM catalogs")]
    path = ws.catalogs_dir / catalog_id / USER_QUERIES_NAME
    assert path.is_file()
    (qs,) = load_query_sets(ws)
    assert qs.path == path

    plan = plan_catalog(40, seed=1)  # another catalog's queries: their uris name no clip of this one
    write_user_queries(user_queries(plan, [r.uri for r in build_records(plan, 144, 256)]), path)
    args = ["--workspace", str(ws.root), "--kmax", "10", "--no-progress", "--comp-split", ""]
    assert main(args) == 0
    result = json.loads((ws.bench_dir / "recall.json").read_text())
    (cat,) = result["user_queries"]["catalogs"]
    assert cat["n_queries"] == 0 and cat["sets"] == [] and cat["n_unmapped"] > 0
    printed = capsys.readouterr().out
    assert "name no ok clip of the catalog" in printed and "user-style (held-out wording)" not in printed

    path.unlink()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "`adsearch synth`" in printed and "no user-style queries" in printed
    result = json.loads((ws.bench_dir / "recall.json").read_text())
    assert result["user_queries"]["catalogs"] == [] and result["sets"][0]["rows"]  # Table 8 is still there
