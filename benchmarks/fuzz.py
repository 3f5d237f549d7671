"""Fuzz pass over what adsearch reads: manifests, media files, folder ingest, queries and filter values (issue 15).

    python -m benchmarks.fuzz --minutes 10 [--seed 0] [--targets media,manifest,ingest,query] [--workspace DIR]

A seeded generator breaks inputs on purpose and checks the invariants every bad input must keep:

- no traceback: readers raise only their typed errors (``MediaError``, ``QueryError``) or record a row error;
- no hang and no crash: every media call runs in a worker process with a time limit (``--timeout-s``); a call that
  overruns it is a ``hang``, a worker that dies (a segfault in a decoder) is a ``crash``;
- a clear error per bad item, without decoder internals (C++ assertion texts, FFmpeg error codes);
- nothing else lost: every untouched manifest row loads unchanged, every readable video of an ingested batch is ok;
- a batch with some bad items ends normally (ingest returns, ``adsearch ingest`` exits 0).

Prints the findings (none, when all holds) and writes ``fuzz.json`` under ``--out`` (default ``<workspace>/bench``).
The test suite runs the same generators with a fixed seed and a small budget (tests/*/test_fuzz_*.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DECODER_JARGON",
    "Finding",
    "MediaWorker",
    "check_media",
    "fuzz_ingest",
    "fuzz_manifests",
    "fuzz_media",
    "fuzz_queries",
    "main",
    "mutate_bytes",
    "random_value",
    "write_seed_videos",
]

# Fragments of decoder internals that must never reach a user's error message.
DECODER_JARGON = ("Check failed", "avfilter", "buffersrc", "__null", "av_read_frame", "1094995529", "DECORD", ".cc:")
TARGETS = ("media", "manifest", "ingest", "query")


@dataclass(frozen=True)
class Finding:
    """One broken invariant: which target, which generated case, what went wrong."""

    target: str  # media | manifest | ingest | query
    case: str  # how the input was made (seed video + mutation, row kinds, ...)
    kind: str  # traceback | hang | crash | jargon | lost | bad-output
    detail: str


# --- media -------------------------------------------------------------------------------------------------------


def _frames(n: int, h: int, w: int, seed: int) -> list[np.ndarray]:
    """Frames with texture and a moving block, so every codec has work to do."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        f = base.copy()
        y = (i * 3) % max(1, h - 8)
        f[y : y + 8, :, :] = (i * 37) % 256
        out.append(f)
    return out


def _encode(
    path: Path,
    fmt: str,
    codec: str,
    *,
    w: int,
    h: int,
    n: int = 20,
    fps: int = 10,
    pix: str = "yuv420p",
    audio: bool = False,
    options: dict | None = None,
    vfr: bool = False,
) -> Path:
    import av

    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix
        if options:
            s.options = options
        if vfr:
            s.codec_context.time_base = Fraction(1, 1000)
        a = c.add_stream("aac", rate=16000) if audio else None
        if a is not None:
            a.layout = "mono"
        t = 0
        for i, frame in enumerate(_frames(n, h, w, seed=zlib.crc32(path.name.encode()))):  # not the folder's
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if vfr:
                vf.pts, vf.time_base = t, Fraction(1, 1000)
                t += 100 if i % 3 else 350
            c.mux(s.encode(vf))
        c.mux(s.encode())
        if a is not None:
            samples = (0.3 * np.sin(np.arange(16000 * n // fps) / 16000 * 2 * np.pi * 440)).astype(np.float32)
            for k in range(0, len(samples), 1024):
                af = av.AudioFrame.from_ndarray(samples[None, k : k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, k
                c.mux(a.encode(af))
            c.mux(a.encode())
    return path


def write_seed_videos(folder: Path, *, small: bool = False) -> list[Path]:
    """Valid videos in several containers and codecs, to be broken by :func:`mutate_bytes`.

    ``small``: only the few kinds the test suite needs (h264 mp4 with audio, its faststart copy, mpeg4 avi, a
    72-pixel-wide mjpeg mov and a variable-frame-rate mp4).
    """
    import av

    folder.mkdir(parents=True, exist_ok=True)
    specs: list[tuple[str, str, str, dict]] = [
        ("h264_aac.mp4", "mp4", "libx264", {"w": 64, "h": 112, "audio": True, "options": {"preset": "ultrafast"}}),
        ("mpeg4.avi", "avi", "mpeg4", {"w": 64, "h": 48}),
        ("mjpeg_72.mov", "mov", "mjpeg", {"w": 72, "h": 40, "pix": "yuvj420p"}),
        ("vfr.mp4", "mp4", "libx264", {"w": 48, "h": 64, "vfr": True, "options": {"preset": "ultrafast"}}),
    ]
    if not small:
        specs += [
            (
                "vp9.webm",
                "webm",
                "libvpx-vp9",
                {"w": 64, "h": 48, "options": {"deadline": "realtime", "cpu-used": "8"}},
            ),
            ("mpeg2.ts", "mpegts", "mpeg2video", {"w": 64, "h": 48}),
            ("mpeg1.mpg", "mpeg", "mpeg1video", {"w": 64, "h": 48}),
            (
                "hevc.mkv",
                "matroska",
                "libx265",
                {"w": 64, "h": 48, "options": {"preset": "ultrafast", "x265-params": "log-level=0"}},
            ),
            ("h263.3gp", "3gp", "h263", {"w": 128, "h": 96}),
            ("flv1.flv", "flv", "flv", {"w": 64, "h": 48}),
            ("wmv2.wmv", "asf", "wmv2", {"w": 64, "h": 48}),
            ("ffv1.mkv", "matroska", "ffv1", {"w": 64, "h": 48}),
            ("prores.mov", "mov", "prores", {"w": 64, "h": 48, "pix": "yuv422p10le"}),
            ("gif.gif", "gif", "gif", {"w": 32, "h": 32, "pix": "rgb8"}),
        ]
    out = []
    for name, fmt, codec, kw in specs:
        try:
            out.append(_encode(folder / name, fmt, codec, **kw))
        except (av.error.FFmpegError, ValueError) as e:  # an encoder this PyAV build lacks: fuzz the others
            print(f"  (no seed {name}: {e})", file=sys.stderr)
    mp4 = folder / "h264_aac.mp4"
    with (
        av.open(str(mp4)) as src,
        av.open(str(folder / "faststart.mp4"), "w", format="mp4", options={"movflags": "faststart"}) as dst,
    ):
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    out.insert(1, folder / "faststart.mp4")
    return out


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random corruption of a file's bytes; returns (new bytes, what was done)."""
    n = len(data)
    kind = rng.choice(
        [
            "truncate",
            "flip",
            "zero",
            "insert",
            "duplicate",
            "drop",
            "garbage_tail",
            "header_only",
            "shuffle",
            "flip_header",
        ]
    )
    if kind == "truncate":
        at = rng.randrange(0, n)
        return data[:at], f"truncate@{at}/{n}"
    if kind in ("flip", "flip_header"):
        b = bytearray(data)
        hi = min(n, 512) if kind == "flip_header" else n
        k = rng.randint(1, 64)
        for _ in range(k):
            b[rng.randrange(hi)] ^= 1 << rng.randrange(8)
        return bytes(b), f"{kind}x{k}"
    if kind == "zero":
        a = rng.randrange(n)
        b = min(n, a + rng.randint(1, 4096))
        return data[:a] + bytes(b - a) + data[b:], f"zero[{a}:{b}]"
    if kind == "insert":
        a = rng.randrange(n)
        junk = rng.randbytes(rng.randint(1, 2048))
        return data[:a] + junk + data[a:], f"insert{len(junk)}@{a}"
    if kind == "duplicate":
        a = rng.randrange(n)
        b = min(n, a + rng.randint(1, 8192))
        return data[:b] + data[a:b] + data[b:], f"duplicate[{a}:{b}]"
    if kind == "drop":
        a = rng.randrange(n)
        b = min(n, a + rng.randint(1, 8192))
        return data[:a] + data[b:], f"drop[{a}:{b}]"
    if kind == "garbage_tail":
        return data + rng.randbytes(rng.randint(1, 65536)), "garbage_tail"
    if kind == "header_only":
        at = rng.randint(1, min(n, 2048))
        return data[:at], f"header_only{at}"
    chunks = [data[i : i + 1024] for i in range(0, n, 1024)]
    rng.shuffle(chunks)
    return b"".join(chunks), "shuffle1k"


def _media_ops(path: str, scratch: str) -> list[tuple[str, Callable[[], Any]]]:
    from media import detect_shots, extract_audio, probe, read_frame, sample_frames, write_thumbnail

    def thumb() -> Path:
        d = probe(path).duration_s
        return write_thumbnail(path, 0.0, d, Path(scratch) / "thumb.jpg", width=32)

    return [
        ("probe", lambda: probe(path)),
        ("sample_frames", lambda: sample_frames(path, n=4, size=32)),
        ("sample_native", lambda: sample_frames(path, n=2, size=None)),
        ("read_frame", lambda: read_frame(path, 0.0)),
        ("thumbnail", thumb),
        ("detect_shots", lambda: detect_shots(path)),
        ("extract_audio", lambda: extract_audio(path)),
    ]


def check_media(path: str, scratch: str) -> list[tuple[str, str]]:
    """Run every media reader on one file; returns (kind, detail) for each broken invariant (empty when all hold).

    Allowed outcomes: a result of the documented shape, or a ``MediaError`` whose message names the file and holds
    no decoder internals.
    """
    from media import MediaError

    problems = []
    for name, op in _media_ops(path, scratch):
        try:
            out = op()
        except MediaError as e:
            if not str(e).startswith(path) or not e.reason:
                problems.append(("bad-output", f"{name}: MediaError without the path or a reason: {e}"))
            jargon = [j for j in DECODER_JARGON if j in str(e)]
            if jargon:
                problems.append(("jargon", f"{name}: {str(e)[len(path) :][:300]}"))
            continue
        except Exception as e:
            tb = traceback.format_exc(limit=4)
            problems.append(("traceback", f"{name}: {type(e).__name__}: {str(e)[:300]}\n{tb[-1200:]}"))
            continue
        if name == "extract_audio":
            if not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.ndim == 1):
                problems.append(("bad-output", f"extract_audio: {type(out).__name__} {getattr(out, 'shape', '')}"))
        elif isinstance(out, np.ndarray) and (out.dtype != np.uint8 or out.ndim not in (3, 4) or 0 in out.shape):
            problems.append(("bad-output", f"{name}: array {out.dtype} {out.shape}"))
        if name == "probe" and not (out.frame_count >= 1 and out.duration_s > 0 and np.isfinite(out.fps)):
            problems.append(("bad-output", f"probe: {out}"))
    return problems


def _media_worker(conn: Connection) -> None:
    scratch = tempfile.mkdtemp(prefix="fuzz-media-")
    try:
        while True:
            try:
                path = conn.recv()
            except EOFError:
                return
            if path is None:
                return
            conn.send(check_media(path, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class MediaWorker:
    """A worker process that runs :func:`check_media`, so that a hang or a decoder crash is caught, not suffered."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_media_worker, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def check(self, path: Path, timeout_s: float) -> list[tuple[str, str]]:
        """Problems of one file; a run over ``timeout_s`` is a hang, a dead worker a crash (then it restarts)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        assert self._conn is not None
        self._conn.send(str(path))
        if self._conn.poll(timeout_s):
            try:
                return self._conn.recv()
            except EOFError:
                pass
        alive = self._proc.is_alive()
        self._stop()
        if alive:
            return [("hang", f"no answer within {timeout_s:.0f} s")]
        return [("crash", f"the worker died (exit code {self._proc.exitcode})")]

    def _stop(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
        if self._proc is not None:
            self._proc.join(5)
        self._proc = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            self._conn.send(None)
            self._proc.join(5)
        self._stop()

    def __enter__(self) -> MediaWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fuzz_media(
    seeds: Sequence[Path], rng: random.Random, workdir: Path, *, cases: int, deadline: float, timeout_s: float = 30.0
) -> tuple[int, list[Finding]]:
    """Break seed videos ``cases`` times (or until ``deadline``, a ``time.monotonic()``) and check each one.

    A case that breaks an invariant stays in ``workdir`` and its finding ends with the file's name; the others are
    deleted.
    """
    findings, done = [], 0
    workdir.mkdir(parents=True, exist_ok=True)
    with MediaWorker() as worker:
        for seed in seeds:  # the seeds themselves must read cleanly
            findings += [Finding("media", seed.name, k, d) for k, d in worker.check(seed, timeout_s)]
        while done < cases and time.monotonic() < deadline:
            seed = rng.choice(seeds)
            data, how = mutate_bytes(seed.read_bytes(), rng)
            path = workdir / f"case{done:05d}{seed.suffix}"
            path.write_bytes(data)
            problems = worker.check(path, timeout_s)
            findings += [Finding("media", f"{seed.name} {how} {path.name}", k, d) for k, d in problems]
            if not problems:
                path.unlink()
            done += 1
    return done, findings


# --- manifests ---------------------------------------------------------------------------------------------------

_UNICODE_RANGES = [
    (0x20, 0x7E),
    (0xA0, 0x2FF),
    (0x300, 0x36F),
    (0x590, 0x6FF),
    (0x4E00, 0x4FFF),
    (0x1F300, 0x1F64F),
    (0x200B, 0x200F),
    (0x0, 0x1F),
    (0xFFF0, 0xFFFF),
    (0x10000, 0x1007F),
]


def random_text(rng: random.Random, max_len: int = 40, *, surrogates: bool = False) -> str:
    """Random Unicode: ASCII, accents, combining marks, RTL, CJK, emoji, zero-width and control characters."""
    out = []
    for _ in range(rng.randint(0, max_len)):
        a, b = rng.choice(_UNICODE_RANGES)
        out.append(chr(rng.randint(a, b)))
        if surrogates and rng.random() < 0.1:
            out.append(chr(rng.randint(0xD800, 0xDFFF)))
    return "".join(out)


def random_value(rng: random.Random) -> Any:
    """A value of a random JSON-ish or Python type, some of them hostile (huge, nested, non-finite, surrogates)."""
    kind = rng.randrange(14)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**64), 10**30])
    if kind == 2:
        return rng.choice([0.5, -0.0, float("nan"), float("inf"), 1e308, -1e-300])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return random_text(rng)
    if kind == 5:
        return random_text(rng, surrogates=True)
    if kind == 6:
        return "x" * rng.choice([0, 1, 199, 200, 201, 2001, 30_000])
    if kind == 7:
        return [random_text(rng, 8) for _ in range(rng.randint(0, 4))]
    if kind == 8:
        return {random_text(rng, 5): random_text(rng, 5)}
    if kind == 9:
        return rng.randbytes(rng.randint(0, 8))
    if kind == 10:
        return [[rng.random(), rng.random() * 10]]
    if kind == 11:
        return " \t\n "
    if kind == 12:
        return [1] * rng.randint(0, 3)
    return "\x00" + random_text(rng, 5)


def _good_row(i: int, rng: random.Random) -> dict[str, Any]:
    clips = [
        {
            "start_s": 0.0,
            "end_s": 1.0,
            "reference": random_text(rng, 30).strip() or "r",
            "general": "g",
            "keywords": ["red", "bag"],
        }
    ]
    row = {
        "uri": f"videos/v{i}.mp4",
        "clips": clips,
        "asr": f"buy now {i}",
        "industry": rng.choice(["games", "ads"]),
        "sub_industry": None,
        "product": "shoe",
        "game": None,
        "split": rng.choice(["train", "test", None]),
    }
    # valid random Unicode in a label: it must come through unchanged
    text = "".join(ch for ch in random_text(rng, 12) if ch.isprintable()).strip()
    row["product"] = text or "shoe"
    return row


def _bad_row(rng: random.Random, fmt: str) -> tuple[dict[str, Any] | bytes, str]:
    """A broken row: a dict with a hostile field, or raw bytes for the whole line."""
    kind = rng.randrange(9)
    base = {"uri": f"bad/{rng.randrange(10**6)}.mp4"}
    if kind == 0:
        field = rng.choice(["uri", "clips", "asr", "industry", "split", "game"])
        return {**base, field: random_value(rng)}, f"value:{field}"
    if kind == 1:
        return {**base, "clips": [random_value(rng) for _ in range(rng.randint(1, 3))]}, "clips:items"
    if kind == 2:
        return {
            **base,
            "clips": [
                {
                    "start_s": random_value(rng),
                    "end_s": random_value(rng),
                    "reference": random_value(rng),
                    "keywords": random_value(rng),
                }
            ],
        }, "clips:fields"
    if kind == 3:
        return {**base, "asr": "long " * rng.randint(4_000, 40_000)}, "huge-text"
    if kind == 4:  # raw garbage: no newline, and for CSV no quote or carriage return
        junk = bytes(b for b in rng.randbytes(rng.randint(1, 300)) if b not in b'\n\r"') + b"x"
        return junk, "garbage-line"
    if kind == 5:
        return b"[" * rng.randint(1000, 100_000) if fmt == "jsonl" else b"deep,[[[[", "deep-nesting"
    if kind == 6:
        return (
            (b'{"uri": "big.mp4", "clips": [[0, ' + b"9" * rng.randint(4400, 20_000) + b"]]}", "big-int")
            if fmt == "jsonl"
            else (b"big.mp4," + b"9" * 5000, "big-int")
        )
    if kind == 7:
        return {**base, "industry": "x" * rng.randint(201, 5000)}, "long-label"
    return {**base, "split": random_text(rng, 10)}, "split"


def _corrupt_text_bytes(line: bytes, rng: random.Random, fmt: str) -> bytes:
    """Put a byte that is not UTF-8 inside a text value (never a structural character of the format)."""
    marker = b"buy now" if b"buy now" in line else None
    at = line.index(marker) + 3 if marker else max(1, len(line) // 2)
    bad = bytes([rng.choice([0x80, 0xBF, 0xC0, 0xC3, 0xE9, 0xF5, 0xFE, 0xFF])])
    return line[:at] + bad + line[at:]


def _csv_line(row: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    cols = ["uri", "clips", "asr", "industry", "sub_industry", "product", "game", "split"]
    cells = []
    for c in cols:
        v = row.get(c)
        if isinstance(v, list | dict):
            cells.append(json.dumps(v, ensure_ascii=False, default=_json_default))
        else:
            cells.append("" if v is None else str(v))
    # every cell quoted: a bare carriage return in a cell would end the record (CSV's rule, not a reader bug)
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    return buf.getvalue().encode("utf-8", "surrogatepass")


def _json_default(o: Any) -> Any:
    return o.decode("latin-1") if isinstance(o, bytes) else str(o)


def _jsonl_line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, default=_json_default).encode("utf-8", "surrogatepass") + b"\n"


@dataclass(frozen=True)
class ManifestCase:
    """A generated manifest file and what reading it must give."""

    path: Path
    good: dict[int, dict[str, Any]]  # row number -> the row as written (must load unchanged)
    rows: int  # rows written (each must end as a record or an error)
    kinds: tuple[str, ...]  # what the bad rows were


def make_manifest_case(folder: Path, rng: random.Random, fmt: str, n_rows: int = 12) -> ManifestCase:
    """A CSV or JSONL manifest of ``n_rows`` rows, some good, some broken in random ways."""
    lines, good, kinds = [], {}, []
    if fmt == "csv":
        lines.append(b"uri,clips,asr,industry,sub_industry,product,game,split\n")
    for r in range(1, n_rows + 1):
        if rng.random() < 0.5:
            row = _good_row(r, rng)
            good[r] = row
            lines.append(_csv_line(row) if fmt == "csv" else _jsonl_line(row))
            continue
        bad, kind = _bad_row(rng, fmt)
        if isinstance(bad, dict) and rng.random() < 0.3:  # a byte that is not UTF-8 in a good-looking row
            row = _good_row(r, rng)
            bad, kind = _corrupt_text_bytes(_csv_line(row) if fmt == "csv" else _jsonl_line(row), rng, fmt), "bad-byte"
        elif isinstance(bad, dict):
            bad = _csv_line(bad) if fmt == "csv" else _jsonl_line(bad)
        else:
            bad = bad + b"\n"
        kinds.append(kind)
        lines.append(bad)
    data = b"".join(lines)
    if rng.random() < 0.2:
        data = b"\xef\xbb\xbf" + data  # a byte order mark
    if rng.random() < 0.2:  # Windows line ends (cells hold no raw newline: JSON escapes them, CSV rows get none)
        data = data.replace(b"\n", b"\r\n")
    path = folder / f"manifest.{fmt}"
    path.write_bytes(data)
    return ManifestCase(path, good, n_rows, tuple(kinds))


def check_manifest(case: ManifestCase) -> list[tuple[str, str]]:
    """Read a generated manifest and check: no exception, every good row unchanged, every row accounted for."""
    from corpus.manifest import LABELS, MAX_LABEL_CHARS, MAX_TEXT_CHARS, read_manifest

    try:
        m = read_manifest(case.path)
    except Exception as e:
        return [("traceback", f"{type(e).__name__}: {str(e)[:300]}\n{traceback.format_exc(limit=4)[-1200:]}")]
    problems = []
    if len(m.records) + len(m.errors) != case.rows:
        problems.append(("lost", f"{case.rows} rows written, {len(m.records)} records + {len(m.errors)} errors"))
    by_row = {r.row: r for r in m.records}
    for row, want in case.good.items():
        got = by_row.get(row)
        if got is None:
            errs = [str(e) for e in m.errors if e.row == row]
            problems.append(("lost", f"good row {row} did not load: {errs}"))
            continue
        expect = {k: (want[k] or None) for k in ("uri", "asr", *LABELS, "split")}
        have = {k: getattr(got, k) for k in expect}
        if have != expect or got.clips is None or got.clips[0].reference != want["clips"][0]["reference"]:
            problems.append(("lost", f"row {row} changed: {str(have)[:300]} != {str(expect)[:300]}"))
    for r in m.records:
        texts = [r.uri, r.asr, *(getattr(r, k) for k in LABELS), *(c.reference for c in r.clips or ())]
        for t in texts:
            if t is None:
                continue
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(("bad-output", f"row {r.row}: a text that is not valid UTF-8 loaded: {t!r:.80}"))
        if (r.asr and len(r.asr) > MAX_TEXT_CHARS) or any(len(getattr(r, k) or "") > MAX_LABEL_CHARS for k in LABELS):
            problems.append(("bad-output", f"row {r.row}: a text over its limit loaded"))
    for e in m.errors:
        if not (e.row >= 1 and str(case.path) in str(e) and e.message):
            problems.append(("bad-output", f"an error without file, row or message: {e!r:.200}"))
        if e.uri is not None:
            try:
                e.uri.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(("bad-output", f"row {e.row}: the error's uri cannot be stored: {e.uri!r:.80}"))
    return problems


def fuzz_manifests(rng: random.Random, workdir: Path, *, cases: int, deadline: float) -> tuple[int, list[Finding]]:
    """Generate and read ``cases`` broken manifests (CSV and JSONL)."""
    findings, done = [], 0
    while done < cases and time.monotonic() < deadline:
        fmt = rng.choice(["csv", "jsonl"])
        folder = workdir / f"m{done:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        case = make_manifest_case(folder, rng, fmt)
        problems = check_manifest(case)
        findings += [Finding("manifest", f"{fmt} {','.join(case.kinds)}", k, d) for k, d in problems]
        if not problems:
            shutil.rmtree(folder)
        done += 1
    return done, findings


# --- ingest of a broken batch --------------------------------------------------------------------------------------


def fuzz_ingest(seeds: Sequence[Path], rng: random.Random, workdir: Path, *, n_broken: int = 8) -> list[Finding]:
    """Ingest a folder of good and broken videos, odd entries and a broken manifest; check nothing is lost.

    Runs in this process (as ``adsearch ingest --workers 1`` does), so a decoder crash here would end the run: that
    is what :func:`fuzz_media` checks first.
    """
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    folder = workdir / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    good = []
    for s in seeds:
        if s.suffix in (".mp4", ".avi", ".mov"):
            shutil.copy(s, folder / s.name)
            good.append(s.name)
    for i in range(n_broken):
        data, _ = mutate_bytes(rng.choice(seeds).read_bytes(), rng)
        (folder / f"broken{i}.mp4").write_bytes(data)
    (folder / "dir.mp4").mkdir(exist_ok=True)
    link = folder / "dangling.mkv"
    if not link.is_symlink():
        link.symlink_to(folder / "nowhere.mkv")
    (folder / "readme.txt").write_text("not a video")
    ws = workdir / "ws"
    opts = IngestOptions(thumbs_dir=ws / "thumbs", thumbs_relative_to=ws, asr=False, workers=1)
    findings = []
    try:
        with open_catalog(ws / "catalog.duckdb") as cat:
            s = ingest(folder, cat, opts=opts)
            rows = cat.query("SELECT uri, status, error FROM videos")
    except Exception as e:
        tb = traceback.format_exc(limit=6)
        return [Finding("ingest", "folder", "traceback", f"{type(e).__name__}: {e}\n{tb[-1500:]}")]
    entries = len(good) + n_broken + 2
    if s.ok + s.failed + s.skipped != entries or s.ignored != 1:
        findings.append(Finding("ingest", "folder", "lost", f"{entries} video entries + 1 other: {s.line()}"))
    status = {r["uri"]: r for r in rows}
    for name in good:
        if status.get(name, {}).get("status") != "ok":
            findings.append(Finding("ingest", "folder", "lost", f"good video {name}: {status.get(name)}"))
    for r in rows:
        if r["status"] == "failed":
            jargon = [j for j in DECODER_JARGON if j in (r["error"] or "")]
            if not r["error"] or jargon:
                findings.append(Finding("ingest", "folder", "jargon", f"{r['uri']}: {r['error']!r:.300}"))
    return findings


# --- queries and filters -----------------------------------------------------------------------------------------


def fuzz_queries(rng: random.Random, *, cases: int, deadline: float, searcher: Any = None) -> tuple[int, list[Finding]]:
    """Random query texts, k values and filter values through ``check_query``, ``Filters`` and (when given) a
    ``Searcher``: each must give a valid result or a ``QueryError``, nothing else."""
    from indexer.search import FILTER_FIELDS, MAX_K, MAX_QUERY_CHARS, Filters, QueryError, check_query

    findings, done = [], 0
    while done < cases and time.monotonic() < deadline:
        query = (
            random_value(rng)
            if rng.random() < 0.3
            else random_text(rng, rng.choice([5, 50, 3000]), surrogates=rng.random() < 0.3)
        )
        k = rng.choice([1, 5, 10, MAX_K, MAX_K + 1, 0, -3, 10**9, 2.0, "10", True, None, np.int64(7)])
        fields = {rng.choice([*FILTER_FIELDS, "colour", ""]): random_value(rng) for _ in range(rng.randint(0, 2))}
        if rng.random() < 0.5:
            fields = {f: rng.choice(["games", ["rpg", "moba"], "test"]) for f in rng.sample(FILTER_FIELDS, 2)}
        case = f"query={query!r:.60} k={k!r} filters={fields!r:.80}"
        try:
            text = check_query(query)
            if not (isinstance(text, str) and 0 < len(text) <= MAX_QUERY_CHARS and text == text.strip()):
                findings.append(Finding("query", case, "bad-output", f"check_query gave {text!r:.80}"))
            text.encode("utf-8")
        except QueryError:
            pass
        except Exception as e:
            findings.append(Finding("query", case, "traceback", f"check_query: {type(e).__name__}: {e}"))
        filters = None
        try:
            filters = Filters.from_dict(fields)
            filters.active()
        except QueryError:
            pass
        except Exception as e:
            findings.append(Finding("query", case, "traceback", f"Filters: {type(e).__name__}: {e}"))
        if searcher is not None:
            try:
                hits = searcher.search(query, k=k, filters=filters)
                if not isinstance(hits, list) or len(hits) > k:
                    findings.append(Finding("query", case, "bad-output", f"{len(hits)} hits for k={k}"))
            except QueryError:
                pass
            except Exception as e:
                tb = traceback.format_exc(limit=4)
                findings.append(Finding("query", case, "traceback", f"search: {type(e).__name__}: {e}\n{tb[-800:]}"))
        done += 1
    return done, findings


# --- the command -------------------------------------------------------------------------------------------------


def _kill_ingest_runs(runs: int, rng: random.Random, workdir: Path) -> dict[str, Any]:
    """SIGKILL ``adsearch ingest --workers 2`` ``runs`` times at random moments; count the processes left behind."""
    import os
    import signal
    import subprocess

    from corpus.manifest import ClipRecord, VideoRecord, write_manifest
    from media import write_video

    src = workdir / "kill-src"
    recs = []
    for i in range(24):
        frames = _frames(20, 64, 48, seed=1000 + i)
        write_video(src / "videos" / f"v{i:02d}.mp4", frames, 10)
        recs.append(VideoRecord(uri=f"videos/v{i:02d}.mp4", clips=(ClipRecord(0, 1), ClipRecord(1, 2))))
    manifest = write_manifest(recs, src / "manifest.jsonl")

    def table() -> dict[int, tuple[int, str, str]]:
        out = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                f = stat[stat.rindex(")") + 2 :].split()
                out[int(entry)] = (int(f[1]), f[0], f[19])
        return out

    seen: dict[int, str] = {}
    for run in range(runs):
        ws = workdir / f"kill-ws{run}"
        cmd = [
            sys.executable,
            "-m",
            "adsearch.cli",
            "--workspace",
            str(ws),
            "ingest",
            str(manifest),
            "--no-asr",
            "--workers",
            "2",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_at = time.monotonic() + rng.uniform(0.5, 12.0)  # from start-up to late in the run
        while time.monotonic() < kill_at and proc.poll() is None:
            t = table()
            frontier = [proc.pid]
            while frontier:
                parent = frontier.pop()
                for pid, (ppid, state, start) in t.items():
                    if ppid == parent and pid not in seen and state != "Z":
                        seen[pid] = start
                        frontier.append(pid)
            time.sleep(0.05)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(5)
    t = table()
    left = [p for p, start in seen.items() if p in t and t[p][2] == start and t[p][1] != "Z"]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return {"kills": runs, "child_processes_seen": len(seen), "left_after_5s": len(left)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="time budget for all targets (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of " + ", ".join(TARGETS))
    p.add_argument("--timeout-s", type=float, default=30.0, help="time limit of one media file (default %(default)s)")
    p.add_argument(
        "--kill-ingest",
        type=int,
        default=0,
        metavar="N",
        help="also SIGKILL `adsearch ingest` N times at random moments and count leftover processes",
    )
    p.add_argument("--workspace", default=None, help="workspace (for the default --out, and to fuzz its searcher)")
    p.add_argument("--out", default=None, help="output folder (default: <workspace>/bench)")
    args = p.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        print(f"error: unknown target(s) {unknown}; valid: {', '.join(TARGETS)}", file=sys.stderr)
        return 2

    import logging

    from adsearch.workspace import Workspace

    for name in ("corpus.manifest", "indexer.ingest", "media"):  # every bad row and file is logged: expected here
        logging.getLogger(name).setLevel(logging.ERROR)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    budget = args.minutes * 60
    share = {"media": 0.6, "manifest": 0.15, "ingest": 0.1, "query": 0.15}
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    out = Path(args.out) if args.out else Workspace.resolve(args.workspace).bench_dir
    kept = out / "fuzz-cases"  # the media files behind findings, to replay them
    with tempfile.TemporaryDirectory(prefix="adsearch-fuzz-") as tmp:
        work = Path(tmp)
        seeds = write_seed_videos(work / "seeds") if {"media", "ingest"} & set(targets) else []
        for target in targets:
            deadline = time.monotonic() + budget * share[target] / sum(share[t] for t in targets)
            print(f"fuzz {target} ...", flush=True)
            if target == "media":
                counts[target], found = fuzz_media(
                    seeds, rng, kept, cases=10**9, deadline=deadline, timeout_s=args.timeout_s
                )
            elif target == "manifest":
                counts[target], found = fuzz_manifests(rng, work / "manifests", cases=10**9, deadline=deadline)
            elif target == "ingest":
                found, n = [], 0
                while time.monotonic() < deadline:
                    found += fuzz_ingest(seeds, rng, work / f"ingest{n}")
                    n += 1
                counts[target] = n
            else:
                searcher = None
                if args.workspace:
                    from adsearch.index import open_searcher

                    searcher = open_searcher(Workspace.resolve(args.workspace))
                counts[target], found = fuzz_queries(rng, cases=10**9, deadline=deadline, searcher=searcher)
            findings += found
            print(f"  {counts[target]} cases, {len(found)} findings", flush=True)
        kills = _kill_ingest_runs(args.kill_ingest, rng, work) if args.kill_ingest else None
    seconds = time.monotonic() - t0
    print("\n| target | cases | findings |\n|---|---|---|")
    for t in targets:
        print(f"| {t} | {counts[t]} | {sum(f.target == t for f in findings)} |")
    for f in findings[:50]:
        print(f"\n[{f.target}] {f.kind}: {f.case[:200]}\n  {f.detail[:1500]}")
    if kills is not None:
        print(
            f"\nSIGKILL of ingest x{kills['kills']}: {kills['child_processes_seen']} child processes seen, "
            f"{kills['left_after_5s']} still running 5 s after the kills"
        )
    result = {
        "seed": args.seed,
        "minutes": args.minutes,
        "seconds": round(seconds, 1),
        "cases": counts,
        "findings": [asdict(f) for f in findings],
        "kill_ingest": kills,
    }
    if kept.is_dir() and any(kept.iterdir()):
        print(f"the media files behind the findings: {kept}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'fuzz.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
