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

    choices = compare_choices(open_searcher(ws))
    clip_id = int(choices[0].split(" ", 1)[0])
    result = compare_clip(open_searcher(ws), clip_id)
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
    side = compare_clip(open_searcher(copy), clip_id).side("fine")
    assert side.rank is None and "`adsearch caption --kind fine --split test`" in side.markdown()
    with pytest.raises(ValueError, match="not in the catalog"):
        compare_clip(open_searcher(copy), 12345)


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


def test_unknown_filter_value_is_a_user_error(ws: Workspace) -> None:
    from adsearch.app import _filters
    from adsearch.app_views import ANY
    from adsearch.service import BadRequest, SearchService

    service = SearchService(ws)
    try:
        assert _filters(("games", ANY, ANY, ANY)) == {"industry": "games"}
        assert service.check_filters({"industry": "games"}) == {"industry": ["games"]}
        with pytest.raises(BadRequest, match=r"unknown industry 'golf'; known values: .*games"):
            service.check_filters({"industry": "golf"})
        with pytest.raises(BadRequest, match="takes a string or a list of strings"):
            service.check_filters({"industry": 5})
    finally:
        service.close()


def _zip_of(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_uploaded_zips_are_capped_before_extraction(tmp_path: Path) -> None:
    """Issue 15 defect 11: an uploaded zip was extracted with no limit (a zip bomb fills the disk)."""
    from adsearch.app_catalog import source_from_zip

    bomb = _zip_of(tmp_path / "bomb.zip", {"manifest.jsonl": b"{}\n", "big.bin": b"\0" * 3_000_000})
    assert bomb.stat().st_size < 20_000
    with pytest.raises(ValueError, match=r"unpacks to 2\.9 MiB; the limit is 1\.0 MiB"):
        source_from_zip(bomb, tmp_path / "work", max_bytes=2**20)
    many = _zip_of(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(ValueError, match="holds 30 entries; the limit is 20"):
        source_from_zip(many, tmp_path / "work", max_files=20)
    assert not (tmp_path / "work").exists(), "nothing is written before the checks"
    assert source_from_zip(bomb, tmp_path / "work").name == "manifest.jsonl"  # within the default caps


def test_catalog_paths_are_restricted_to_the_ingest_roots(ws: Workspace, tmp_path: Path) -> None:
    """Issue 15 defect 11: the Catalog tab ingested any server path."""
    from adsearch.service import BadRequest, NotFound, SearchService

    root = tmp_path / "incoming"
    (root / "ads").mkdir(parents=True)
    (root / "ads" / "manifest.jsonl").write_text("{}\n")
    (root / "escape").symlink_to(ws.root)
    service = SearchService(ws, ingest_roots=[root])
    try:
        assert service.check_ingest_path(str(root / "ads" / "manifest.jsonl")) == root / "ads" / "manifest.jsonl"
        for outside in (str(ws.catalog_path), "/etc/passwd", str(root / ".." / "x"), str(root / "escape")):
            with pytest.raises(BadRequest, match="outside the folders this server ingests from"):
                service.check_ingest_path(outside)
        with pytest.raises(NotFound, match="does not exist"):
            service.check_ingest_path(str(root / "nope.csv"))
        with pytest.raises(BadRequest, match="give a manifest path"):
            service.submit_catalog("   ")
    finally:
        service.close()


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
    assert "text index speech: " in summary and "text index description: " in summary  # text channels updated
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
    assert main(["serve", "--workspace", str(tmp_path), "--port", "7999"]) == 2  # issue 15 defect 10
    assert "run `adsearch demo` or `adsearch ingest` first" in capsys.readouterr().err


def test_a_catalog_job_keeps_the_one_searcher(ws: Workspace, tmp_path: Path) -> None:
    """The app rebuilt its searcher (reloading the retriever) after each catalog add; the service keeps one, and
    the new clips and filter values reach it."""
    from adsearch.service import SearchService
    from corpus.synth import generate_catalog

    copy = Workspace.resolve(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root, symlinks=True)
    opened = []

    def factory():
        from adsearch.index import open_searcher

        opened.append(open_searcher(copy))
        return opened[-1]

    service = SearchService(copy, searcher_factory=factory, ingest_roots=[tmp_path / "in"])
    try:
        assert service.warm() is None and "more-ads" not in service.filter_choices()["catalog"]
        new = generate_catalog(tmp_path / "in" / "more-ads", n_clips=4, seed=5, workers=1)
        job = service.wait_job(service.submit_catalog(str(new.manifest_path)).id, timeout_s=600)
        assert job.state == "done", job.error
        assert "more-ads" in service.filter_choices()["catalog"]
        page = service.search("a product", k=5, filters={"catalog": "more-ads"})
        assert page.hits and {h.catalog_id for h in page.hits} == {"more-ads"}
        speech = service.search("order now", k=5, filters={"catalog": "more-ads"}, channels=["speech"])
        assert speech.hits and {h.catalog_id for h in speech.hits} == {"more-ads"}  # the job built the text indexes
        assert len(opened) == 1, "one searcher for the service's life"
    finally:
        service.close()
