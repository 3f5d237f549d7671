"""The catalog manifest: one record per video, read from and written to CSV, JSONL or Parquet.

A manifest row describes one video file and, optionally, its clips with their texts::

    uri           path to the video, relative to the manifest's folder, absolute, or file://
    clips         optional list of {start_s, end_s, reference, general, keywords}; pairs [start, end] also accepted
    asr           optional transcript of the whole video (ASR runs at ingest when it is missing)
    industry, sub_industry, product, game   optional labels
    split         optional: train | val | test | test_comp (compositional test set)

In CSV the ``clips`` cell holds the list as JSON. A malformed row is reported as a :class:`ManifestRowError`
naming the file, the row and the field, and the other rows still load.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = [
    "FORMATS",
    "LABELS",
    "SPLITS",
    "ClipRecord",
    "Manifest",
    "ManifestRowError",
    "VideoRecord",
    "read_manifest",
    "resolve_uri",
    "write_manifest",
]

_log = logging.getLogger(__name__)

FORMATS = (".csv", ".jsonl", ".parquet")
SPLITS = ("train", "val", "test", "test_comp")
LABELS = ("industry", "sub_industry", "product", "game")
_COLUMNS = ("uri", "clips", "asr", *LABELS, "split")
_CLIP_TEXTS = ("reference", "general")


@dataclass(frozen=True)
class ClipRecord:
    """One clip (shot) of a video with its optional texts."""

    start_s: float  # clip start, seconds from the start of the video
    end_s: float  # clip end (exclusive), seconds
    reference: str | None = None  # fine-grained reference description (SVAD annotation rules)
    general: str | None = None  # short general caption
    keywords: tuple[str, ...] = ()  # keywords of the reference description


@dataclass(frozen=True)
class VideoRecord:
    """One manifest row: a video file, its labels and optionally its clips."""

    uri: str  # as written in the manifest
    clips: tuple[ClipRecord, ...] | None = None  # None: shots are detected at ingest
    asr: str | None = None  # voice-over transcript of the whole video
    industry: str | None = None
    sub_industry: str | None = None
    product: str | None = None
    game: str | None = None
    split: str | None = None
    row: int = 0  # 1-based position in the manifest file (0 when built in code)


@dataclass(frozen=True)
class ManifestRowError:
    """A row that could not be read, with enough context for a person to fix it."""

    file: str
    row: int  # 1-based record number (CSV: data row after the header)
    field: str | None  # the offending column, None when the row as a whole is unreadable
    message: str
    uri: str | None = None  # the row's uri when it could be read

    def __str__(self) -> str:
        where = f"{self.file}: row {self.row}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"


@dataclass
class Manifest:
    """The readable rows of a manifest and the errors of the others."""

    path: Path
    records: list[VideoRecord] = field(default_factory=list)
    errors: list[ManifestRowError] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def resolve_uri(uri: str, base_dir: Path) -> Path:
    """Turn a manifest uri into a local path (relative paths are relative to ``base_dir``).

    Raises:
        ValueError: for a scheme other than a local path or ``file://``.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive
        raise ValueError(
            f"unsupported uri scheme '{parsed.scheme}://' in {uri!r}: only local paths and file:// are read"
        )
    p = Path(uri).expanduser()
    return p if p.is_absolute() else (base_dir / p)


class _RowError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    v = raw.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if not isinstance(v, str | int | float):
        raise _RowError(key, f"expected text, got {type(v).__name__}")
    s = str(v).strip()
    return s or None


def _number(v: Any, field_name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError) as e:
        raise _RowError(field_name, f"expected a number of seconds, got {v!r}") from e
    if not math.isfinite(x):
        raise _RowError(field_name, f"expected a finite number of seconds, got {v!r}")
    return x


def _parse_clip(item: Any, i: int) -> ClipRecord:
    where = f"clips[{i}]"
    if isinstance(item, list | tuple):
        if len(item) != 2:
            raise _RowError("clips", f"{where}: a pair [start_s, end_s] needs 2 numbers, got {len(item)}")
        item = {"start_s": item[0], "end_s": item[1]}
    if not isinstance(item, dict):
        raise _RowError("clips", f"{where}: expected an object or a [start_s, end_s] pair, got {type(item).__name__}")
    missing = [k for k in ("start_s", "end_s") if item.get(k) is None]
    if missing:
        raise _RowError("clips", f"{where}: missing {', '.join(missing)}")
    start, end = _number(item["start_s"], "clips"), _number(item["end_s"], "clips")
    if start < 0 or end <= start:
        raise _RowError("clips", f"{where}: need 0 <= start_s < end_s, got start_s={start}, end_s={end}")
    texts = {}
    for k in _CLIP_TEXTS:
        v = item.get(k)
        if v is not None and not isinstance(v, str):
            raise _RowError("clips", f"{where}.{k}: expected text, got {type(v).__name__}")
        texts[k] = v.strip() if isinstance(v, str) and v.strip() else None
    kw = item.get("keywords") or ()
    if isinstance(kw, str):
        kw = [k for k in (s.strip() for s in kw.split(";")) if k]
    if not isinstance(kw, list | tuple) or not all(isinstance(k, str) for k in kw):
        raise _RowError("clips", f"{where}.keywords: expected a list of words")
    return ClipRecord(start_s=start, end_s=end, keywords=tuple(kw), **texts)


def _parse_clips(v: Any) -> tuple[ClipRecord, ...] | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise _RowError("clips", f"not valid JSON ({e.msg} at char {e.pos})") from e
    if hasattr(v, "tolist"):  # numpy array from parquet
        v = v.tolist()
    if not isinstance(v, list):
        raise _RowError("clips", f"expected a list of clips, got {type(v).__name__}")
    if not v:
        return None
    clips = tuple(_parse_clip(item, i) for i, item in enumerate(v))
    for i, (a, b) in enumerate(itertools.pairwise(clips)):
        if b.start_s < a.end_s - 1e-6:
            raise _RowError("clips", f"clips[{i + 1}] starts at {b.start_s} before clips[{i}] ends at {a.end_s}")
    return clips


def _parse_row(raw: dict[str, Any], row: int) -> VideoRecord:
    if not isinstance(raw, dict):
        raise _RowError(None, f"expected an object, got {type(raw).__name__}")
    uri = _opt_str(raw, "uri")
    if uri is None:
        raise _RowError("uri", "missing: every row needs the path of its video")
    split = _opt_str(raw, "split")
    if split is not None and split not in SPLITS:
        raise _RowError("split", f"unknown split {split!r}; valid: {', '.join(SPLITS)} or empty")
    labels = {k: _opt_str(raw, k) for k in LABELS}
    return VideoRecord(
        uri=uri, clips=_parse_clips(raw.get("clips")), asr=_opt_str(raw, "asr"), split=split, row=row, **labels
    )


def _raw_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | Exception]]:
    """Yield (1-based row number, raw row dict or the exception that made it unreadable)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "uri" not in reader.fieldnames:
                raise ValueError(f"{path}: CSV header must contain a 'uri' column, got {reader.fieldnames}")
            for i, raw in enumerate(reader, start=1):
                if None in raw:  # more cells than header columns
                    yield i, _RowError(None, f"{len(raw[None])} more cells than the header has columns")
                else:
                    yield i, raw
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            i = 0
            for line in f:
                if not line.strip():
                    continue
                i += 1
                try:
                    yield i, json.loads(line)
                except json.JSONDecodeError as e:
                    yield i, _RowError(None, f"not valid JSON ({e.msg} at char {e.pos})")
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "uri" not in table.column_names:
            raise ValueError(f"{path}: Parquet file must contain a 'uri' column, got {table.column_names}")
        yield from enumerate(table.to_pylist(), start=1)
    else:
        raise ValueError(f"{path}: unknown manifest format '{suffix}'; valid: {', '.join(FORMATS)}")


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest; malformed rows become :class:`ManifestRowError` entries and the rest still load.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the format is unknown or the file has no ``uri`` column at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    manifest = Manifest(path=path)
    for row, raw in _raw_rows(path):
        uri = raw.get("uri") if isinstance(raw, dict) else None
        try:
            if isinstance(raw, Exception):
                raise raw
            manifest.records.append(_parse_row(raw, row))
        except _RowError as e:
            err = ManifestRowError(str(path), row, e.field, str(e), uri if isinstance(uri, str) and uri else None)
            _log.warning("%s", err)
            manifest.errors.append(err)
    return manifest


def _record_dict(rec: VideoRecord, clips_as_json: bool) -> dict[str, Any]:
    clips = None
    if rec.clips is not None:
        clips = [{**asdict(c), "keywords": list(c.keywords)} for c in rec.clips]
        if clips_as_json:
            clips = json.dumps(clips, ensure_ascii=False)
    d = {k: getattr(rec, k) for k in _COLUMNS if k != "clips"}
    d["clips"] = clips
    return {k: d[k] for k in _COLUMNS}


def write_manifest(records: Sequence[VideoRecord], path: str | Path) -> Path:
    """Write records as CSV, JSONL or Parquet (chosen by the file suffix); returns the path.

    Raises:
        ValueError: for an unknown suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown manifest format '{suffix}'; valid: {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    if suffix == ".csv":
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=_COLUMNS)
            w.writeheader()
            for rec in records:
                w.writerow({k: ("" if v is None else v) for k, v in _record_dict(rec, clips_as_json=True).items()})
    elif suffix == ".jsonl":
        with tmp.open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(_record_dict(rec, clips_as_json=False), ensure_ascii=False) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        clip_type = pa.list_(
            pa.struct(
                [
                    ("start_s", pa.float64()),
                    ("end_s", pa.float64()),
                    ("reference", pa.string()),
                    ("general", pa.string()),
                    ("keywords", pa.list_(pa.string())),
                ]
            )
        )
        schema = pa.schema([("clips", clip_type) if k == "clips" else (k, pa.string()) for k in _COLUMNS])
        rows = [_record_dict(rec, clips_as_json=False) for rec in records]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    tmp.replace(path)
    return path
