"""The demo app's parts without a browser, on the session's tiny real workspace: clip cutting, Compare, the
Catalog tab's pipeline (ingest -> caption -> embed -> index add) and its error messages."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from adsearch.workspace import Workspace
from tests.search_workspace import STAND_IN_SOURCE, session_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return session_workspace(tmp_path_factory)


def _test_clip(ws: Workspace) -> dict:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return cat.clips_with_texts(splits=["test"])[0]


def test_cut_segment_writes_the_clip_range(ws: Workspace, tmp_path: Path) -> None:
    from adsearch.app_views import cut_segment
    from media import probe

    clip = _test_clip(ws)
    out = cut_segment(clip["path"], clip["start_s"], clip["end_s"], tmp_path / "clip.mp4")
    info = probe(out)
    assert info.duration_s == pytest.approx(clip["end_s"] - clip["start_s"], abs=0.15)
    assert (info.width, info.height) == (probe(clip["path"]).width, probe(clip["path"]).height)


def test_compare_ranks_the_clip_with_both_texts(ws: Workspace, tmp_path: Path) -> None:
    from adsearch.app_compare import RANK_K, compare_choices, compare_clip
    from adsearch.index import open_searcher
    from indexer.catalog import open_catalog

    choices = compare_choices(ws)
    clip_id = int(choices[0].split(" ", 1)[0])
    result = compare_clip(ws, open_searcher(ws), clip_id)
    n_test = len(choices)
    for kind in ("general", "fine"):
        side = result.side(kind)
        assert side.source == STAND_IN_SOURCE and side.text
        assert side.rank is not None and 1 <= side.rank <= min(n_test, RANK_K)  # the gallery is the test split
        assert len(side.top) == min(5, n_test) and all(h.labels["split"] == "test" for h in side.top)
        assert f"rank of this clip: {side.rank}" in side.markdown()

    copy = Workspace.resolve(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, symlinks=True)
    with open_catalog(copy.catalog_path) as cat:
        cat.con.execute("DELETE FROM texts WHERE kind = 'fine'")
    side = compare_clip(copy, open_searcher(copy), clip_id).side("fine")
    assert side.rank is None and "`adsearch caption --kind fine --split test`" in side.markdown()
    with pytest.raises(ValueError, match="not in the catalog"):
        compare_clip(copy, open_searcher(copy), 12345)


def test_random_clip_is_never_the_current_one() -> None:
    import random

    from adsearch.app_compare import another_choice

    rng = random.Random(0)
    choices = ["1 · a", "2 · b", "3 · c"]
    for current in (*choices, None):
        picks = {another_choice(choices, current, rng) for _ in range(50)}
        assert current not in picks and picks <= set(choices) and len(picks) == (3 if current is None else 2)
    assert another_choice(["1 · a"], "1 · a", rng) == "1 · a"  # the only clip is compared again
    with pytest.raises(ValueError, match="no test clips"):
        another_choice([], None, rng)


def test_unknown_filter_value_is_a_user_error() -> None:
    from adsearch.app import FILTER_FIELDS, _filters
    from adsearch.app_views import ANY

    choices = {f: [ANY, "games"] if f == "industry" else [ANY] for f in FILTER_FIELDS}
    assert _filters(choices, ("games", ANY, ANY, ANY)).industry == "games"
    with pytest.raises(ValueError, match="unknown industry 'golf'; choose one of: games"):
        _filters(choices, ("golf", ANY, ANY, ANY))


def test_add_catalog_from_a_zip_reaches_the_index(ws: Workspace, tmp_path: Path) -> None:
    from adsearch.app_catalog import add_catalog, index_status_markdown, source_from_zip
    from corpus.synth import generate_catalog
    from indexer.catalog import open_catalog

    copy = Workspace.resolve(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, symlinks=True)
    new = generate_catalog(tmp_path / "new-ads", n_clips=4, seed=7, workers=1)
    zip_path = tmp_path / "new-ads.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for f in sorted(new.manifest_path.parent.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(new.manifest_path.parent.parent))
    before = index_status_markdown(copy, "retriever-tiny")

    summary = add_catalog(copy, path="", zip_path=str(zip_path), model="retriever-tiny", workdir=tmp_path / "work")
    assert "0 failed" in summary and "no trained captioner" in summary
    with open_catalog(copy.catalog_path, read_only=True) as cat:
        n_clips = cat.query("SELECT count(*) AS n FROM clips")[0]["n"]
    after = index_status_markdown(copy, "retriever-tiny")
    assert after != before and f"| {n_clips} |" in after, after

    with pytest.raises(ValueError, match="give a manifest path or upload a zip"):
        add_catalog(copy, path="  ", zip_path=None, model="retriever-tiny", workdir=tmp_path / "work")
    (tmp_path / "not.zip").write_text("plain text")
    with pytest.raises(ValueError, match="not a zip file"):
        source_from_zip(tmp_path / "not.zip", tmp_path / "work")


def test_serve_without_a_catalog_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from adsearch.cli import main

    assert main(["--workspace", str(tmp_path), "serve", "--port", "7999"]) == 2
    assert "run `adsearch demo` or `adsearch ingest` first" in capsys.readouterr().err
