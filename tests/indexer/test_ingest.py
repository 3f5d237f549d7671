"""Ingest: bad inputs become failed rows, re-runs are idempotent, dedupe by content, and SIGKILL-resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpus.manifest import ClipRecord, VideoRecord, write_manifest
from indexer.catalog import open_catalog
from indexer.ids import clip_id, video_id_for_content
from indexer.ingest import IngestOptions, ingest

from .conftest import BadCatalog, make_video

# the columns that depend on content, not on when a run happened
VIDEO_COLS = (
    "video_id, catalog_id, uri, manifest_row, sha256, size_bytes, duration_s, frame_count, split, status, error"
)


def _opts(ws: Path, **kw) -> IngestOptions:
    return IngestOptions(thumbs_dir=ws / "thumbs", thumbs_relative_to=ws, asr=False, **kw)


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    with open_catalog(db, read_only=True) as cat:
        q = cat.con.execute
        return {
            "videos": q(f"SELECT {VIDEO_COLS} FROM videos ORDER BY video_id").fetchall(),
            "clips": q("SELECT clip_id, video_id, shot_index, start_s, end_s, thumb FROM clips ORDER BY 1").fetchall(),
            "texts": q("SELECT clip_id, kind, text, source FROM texts ORDER BY 1, 2, 4").fetchall(),
            "catalogs": q("SELECT catalog_id, source FROM catalogs ORDER BY 1").fetchall(),
        }


def test_bad_inputs_are_recorded_and_the_batch_goes_on(tmp_path: Path, bad_catalog: BadCatalog) -> None:
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(bad_catalog.manifest, cat, opts=_opts(ws))
        rows = cat.query("SELECT uri, status, error, manifest_row FROM videos ORDER BY manifest_row")
        n_clips = cat.con.execute("SELECT count(*) FROM clips").fetchone()[0]
        texts = cat.query("SELECT kind, text FROM texts ORDER BY kind, text")
    assert (s.ok, s.failed, s.skipped) == (bad_catalog.n_good, bad_catalog.n_failed, bad_catalog.n_duplicate)
    assert s.catalog_id == "ads"
    status = {r["uri"]: r for r in rows if r["manifest_row"] != 12}  # row 12: malformed, names v1.mp4 again
    for uri in ("videos/v0.mp4", "videos/v1.mp4", "videos/v2.mp4"):
        assert status[uri]["status"] == "ok" and status[uri]["error"] is None
    expected_errors = {
        "videos/v3.mp4": "past the video's end",
        "videos/empty.mp4": "EmptyFileError",
        "videos/truncated.mp4": "NotAVideoError",
        "videos/random.mp4": "NotAVideoError",
        "videos/speech.wav": "NoVideoStreamError",
        "videos/missing.mp4": "no such file",
        "https://example.org/remote.mp4": "unsupported uri scheme",
    }
    for uri, needle in expected_errors.items():
        assert status[uri]["status"] == "failed", uri
        assert needle in status[uri]["error"], (uri, status[uri]["error"])
    malformed = [r for r in rows if r["manifest_row"] == 12]
    assert len(malformed) == 1 and malformed[0]["status"] == "failed" and "'split'" in malformed[0]["error"]
    assert "videos/copy_of_v0.mp4" not in status  # same bytes as v0: one video
    assert n_clips == s.clips >= 2 + 2 + 1
    assert ("asr", "buy now") in [(t["kind"], t["text"]) for t in texts]
    assert ("keywords", "red") in [(t["kind"], t["text"]) for t in texts]
    thumbs = sorted((ws / "thumbs").glob("*.jpg"))
    assert len(thumbs) == n_clips and all(p.stat().st_size > 0 for p in thumbs)


def test_second_run_does_nothing_new(tmp_path: Path, bad_catalog: BadCatalog) -> None:
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        ingest(bad_catalog.manifest, cat, opts=_opts(ws))
    before = _snapshot(ws / "catalog.duckdb")
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(bad_catalog.manifest, cat, opts=_opts(ws))
    assert (s.ok, s.failed, s.clips) == (0, 0, 0)
    assert s.skipped == bad_catalog.n_good + bad_catalog.n_failed + bad_catalog.n_duplicate
    assert _snapshot(ws / "catalog.duckdb") == before


def test_retry_failed_picks_up_a_fixed_file(tmp_path: Path, bad_catalog: BadCatalog, good_videos: list[Path]) -> None:
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        ingest(bad_catalog.manifest, cat, opts=_opts(ws))
    make_video(bad_catalog.manifest.parent / "videos" / "missing.mp4", [(10, 10, 10), (250, 250, 250)], seed=99)
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(bad_catalog.manifest, cat, opts=_opts(ws))
        assert s.ok == 0, "without --retry-failed a failed row stays as it is"
        s = ingest(bad_catalog.manifest, cat, opts=_opts(ws, retry_failed=True))
        rows = cat.query("SELECT status FROM videos WHERE uri = 'videos/missing.mp4'")
    assert s.ok == 1 and rows == [{"status": "ok"}]


def test_ids_are_deterministic_and_clips_match_the_manifest(tmp_path: Path, good_videos: list[Path]) -> None:
    import hashlib

    ws = tmp_path / "ws"
    clips = (ClipRecord(0.0, 1.5), ClipRecord(1.5, 3.0))
    m = write_manifest([VideoRecord(uri=str(good_videos[0]), clips=clips)], tmp_path / "m" / "manifest.csv")
    with open_catalog(ws / "catalog.duckdb") as cat:
        ingest(m, cat, opts=_opts(ws), catalog_id="x")
        got = cat.query("SELECT clip_id, start_s, end_s FROM clips ORDER BY clip_id")
    vid = video_id_for_content(hashlib.sha256(good_videos[0].read_bytes()).hexdigest())
    assert got == [
        {"clip_id": clip_id(vid, 0), "start_s": 0.0, "end_s": 1.5},
        {"clip_id": clip_id(vid, 1), "start_s": 1.5, "end_s": 3.0},
    ]


def test_folder_ingest_detects_shots(tmp_path: Path, good_videos: list[Path]) -> None:
    folder = tmp_path / "my_ads"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(good_videos[0], folder / "a.mp4")
    shutil.copy(good_videos[1], folder / "sub" / "b.mp4")
    (folder / "notes.txt").write_text("not a video, not picked up")
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(folder, cat, opts=_opts(ws))
        clips = cat.query("SELECT v.uri, c.start_s FROM clips c JOIN videos v USING (video_id) ORDER BY 1, 2")
    assert (s.catalog_id, s.ok, s.failed) == ("my_ads", 2, 0)
    # each fixture video has two 1.5 s shots of different colours
    assert [(c["uri"], round(c["start_s"], 1)) for c in clips] == [
        ("a.mp4", 0.0),
        ("a.mp4", 1.5),
        ("sub/b.mp4", 0.0),
        ("sub/b.mp4", 1.5),
    ]


def test_migrations_apply_once(tmp_path: Path) -> None:
    db = tmp_path / "catalog.duckdb"
    with open_catalog(db) as cat:
        v = cat.schema_version
        assert v >= 1
    with open_catalog(db) as cat:
        assert cat.migrate() == [] and cat.schema_version == v


def test_read_only_catalog_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="adsearch ingest"):
        open_catalog(tmp_path / "nope.duckdb", read_only=True)


def _many_videos(root: Path, n: int) -> Path:
    palette = [(200, 30, 30), (30, 160, 40), (30, 40, 200), (220, 200, 40)]
    recs = []
    for i in range(n):
        make_video(root / "videos" / f"v{i:02d}.mp4", [palette[i % 4], palette[(i + 1) % 4]], seed=100 + i)
        recs.append(VideoRecord(uri=f"videos/v{i:02d}.mp4", clips=(ClipRecord(0, 1.5), ClipRecord(1.5, 3.0))))
    return write_manifest(recs, root / "manifest.jsonl")


def _ingest_cmd(ws: Path, manifest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "adsearch.cli",
        "--workspace",
        str(ws),
        "ingest",
        str(manifest),
        "--no-asr",
        "--workers",
        "1",
    ]


@pytest.mark.slow
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    n = 40
    manifest = _many_videos(tmp_path / "batch", n)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(_ingest_cmd(ref, manifest), check=True, env=env, capture_output=True)

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(_ingest_cmd(killed, manifest), env=env, **quiet)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "thumbs").glob("*.jpg"))) < 2 * n // 3:
        assert proc.poll() is None, "the run ended before it could be killed; make the batch bigger"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open_catalog(killed / "catalog.duckdb") as cat:  # the killed run left a partial catalog behind
        partial = cat.con.execute("SELECT count(*) FROM videos").fetchone()[0]
    assert 0 < partial < n, partial

    subprocess.run(_ingest_cmd(killed, manifest), check=True, env=env, capture_output=True)
    assert _snapshot(killed / "catalog.duckdb") == _snapshot(ref / "catalog.duckdb")
    assert len(_snapshot(ref / "catalog.duckdb")["videos"]) == n


def test_clips_with_texts_filters_by_split(tmp_path: Path, bad_catalog: BadCatalog) -> None:
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        ingest(bad_catalog.manifest, cat, opts=_opts(ws))
        train = cat.clips_with_texts(splits=["train"])
        test = cat.clips_with_texts(splits=["test"])
        everything = cat.clips_with_texts()
    assert {c["split"] for c in train} == {"train"} and {c["split"] for c in test} == {"test"}
    assert len(everything) >= len(train) + len(test)
    v0 = [c for c in train if c["shot_index"] == 0 and c["game"] == "rpg"]
    assert len(v0) == 1
    assert v0[0]["texts"] == {
        "reference": ["a red scene"],
        "general": ["a scene"],
        "keywords": ["red"],
        "asr": ["buy now"],
    }
    assert [c["clip_id"] for c in everything] == sorted(c["clip_id"] for c in everything)
    assert all(Path(c["path"]).is_file() for c in everything)


def test_clips_with_texts_keeps_only_the_given_sources(tmp_path: Path, bad_catalog: BadCatalog) -> None:
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        ingest(bad_catalog.manifest, cat, opts=_opts(ws))
        clip = cat.clips_with_texts(splits=["train"])[0]
        cat.upsert_texts(
            [
                (clip["clip_id"], "general", "a generated caption", "blip-tiny-1"),
                (clip["clip_id"], "fine", "a fine one", "svad-tiny-1"),
            ]
        )
        everything = {c["clip_id"]: c for c in cat.clips_with_texts(splits=["train"])}[clip["clip_id"]]
        annotated = {
            c["clip_id"]: c for c in cat.clips_with_texts(splits=["train"], text_sources=["manifest", "whisper:%"])
        }
    assert "a generated caption" in everything["texts"]["general"] and everything["texts"]["fine"] == ["a fine one"]
    assert annotated[clip["clip_id"]]["texts"] == clip["texts"]


def test_worker_processes_give_the_same_catalog(tmp_path: Path, bad_catalog: BadCatalog) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for ws, workers in ((serial, 1), (parallel, 2)):
        with open_catalog(ws / "catalog.duckdb") as cat:
            ingest(bad_catalog.manifest, cat, opts=_opts(ws, workers=workers))
    assert _snapshot(parallel / "catalog.duckdb") == _snapshot(serial / "catalog.duckdb")


def test_asr_transcribes_videos_without_a_transcript(tmp_path: Path) -> None:
    import wave

    import numpy as np

    from media import write_video

    speech = Path(__file__).parents[1] / "media" / "data" / "speech_en.wav"
    with wave.open(str(speech)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    seconds = len(audio) / 16000
    frames = [np.full((112, 64, 3), 40 + (i % 20) * 5, np.uint8) for i in range(int(seconds * 10) + 1)]
    folder = tmp_path / "talking"
    write_video(folder / "ad.mp4", frames, 10, audio=audio)
    ws = tmp_path / "ws"
    opts = IngestOptions(thumbs_dir=ws / "thumbs", thumbs_relative_to=ws, asr=True)
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(folder, cat, opts=opts)
        rows = cat.query("SELECT text, source FROM texts WHERE kind = 'asr'")
    assert s.ok == 1
    words = " ".join(r["text"] for r in rows).lower()
    assert "shoes" in words and "free" in words, words
    assert {r["source"] for r in rows} == {"whisper:tiny.en"}


# --- issue 15: every folder entry accounted for; no worker outlives a killed ingest ------------------------------


def test_folder_scan_accounts_for_every_entry(tmp_path: Path, good_videos: list[Path]) -> None:
    # issue 15 #1: a directory named x.mp4 and a dangling symlink y.mp4 got no row and no message
    folder = tmp_path / "drop"
    (folder / "x.mp4").mkdir(parents=True)
    shutil.copy(good_videos[0], folder / "a.mp4")
    shutil.copy(good_videos[1], folder / "x.mp4" / "inside.mp4")  # a folder named like a video is still scanned
    (folder / "y.mp4").symlink_to(folder / "gone.mp4")
    os.mkfifo(folder / "pipe.mov")  # opening it would block: it must fail without being read
    shutil.copy(good_videos[2], folder / os.fsdecode(b"caf\xe9.mp4"))  # a file name that is not UTF-8
    (folder / "notes.txt").write_text("not a video")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    ws = tmp_path / "ws"
    with open_catalog(ws / "catalog.duckdb") as cat:
        s = ingest(folder, cat, opts=_opts(ws))
        rows = cat.query("SELECT uri, status, error FROM videos ORDER BY uri")
    assert (s.ok, s.failed, s.ignored) == (2, 4, 2), s.line()
    assert "2 other entries ignored" in s.line()
    by_uri = {r["uri"]: r for r in rows}
    assert by_uri["a.mp4"]["status"] == by_uri["x.mp4/inside.mp4"]["status"] == "ok"
    expected = {
        "x.mp4": "a directory",
        "y.mp4": "dangling symbolic link",
        "pipe.mov": "not a regular file",
        "caf\\xe9.mp4": "not valid UTF-8",
    }
    for uri, needle in expected.items():
        assert by_uri[uri]["status"] == "failed" and needle in by_uri[uri]["error"], (uri, by_uri[uri])
    with open_catalog(ws / "catalog.duckdb") as cat:  # a second run finds them all done
        again = ingest(folder, cat, opts=_opts(ws))
    assert (again.ok, again.failed, again.skipped) == (0, 0, 6)


def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, read from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        out[int(entry)] = (int(fields[1]), fields[0], fields[19])
    return out


def _descendants(pid: int) -> dict[int, str]:
    """pid -> start time of every live descendant of ``pid``."""
    table, found, frontier = _proc_table(), {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, state, start) in table.items():
            if ppid == parent and state != "Z" and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def _still_running(procs: dict[int, str]) -> list[int]:
    table = _proc_table()
    return [p for p, start in procs.items() if p in table and table[p][2] == start and table[p][1] != "Z"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_ingest_leaves_no_worker_running(tmp_path: Path) -> None:
    # issue 15 #7: spawn workers and the resource tracker of a SIGKILLed ingest lived on, re-parented to init
    manifest = _many_videos(tmp_path / "batch", 24)
    cmd = _ingest_cmd(tmp_path / "ws", manifest)
    cmd[cmd.index("--workers") + 1] = "2"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, children = time.monotonic() + 120, {}
        while time.monotonic() < deadline and not list((tmp_path / "ws" / "thumbs").glob("*.jpg")):
            assert proc.poll() is None, "the run ended before it could be killed"
            children.update(_descendants(proc.pid))
            time.sleep(0.05)
        children.update(_descendants(proc.pid))
        assert len(children) >= 3, children  # 2 workers and the resource tracker, at least
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while _still_running(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _still_running(children)
    for pid in left:  # do not leak them into the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(children)} child processes outlived the killed ingest"
