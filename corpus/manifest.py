"""The catalog manifest: one record per video, read from and written to CSV, JSONL or Parquet.

A manifest row describes one video file and, optionally, its clips with their texts::

    uri           path to the video, relative to the manifest's folder, absolute, or file://
    clips         optional list of {start_s, end_s, reference, general, keywords}; pairs [start, end] also accepted
    asr           optional transcript of the whole video (ASR runs at ingest when it is missing)
    industry, sub_industry, product, game   optional labels
    split         optional: train | val | test | test_comp (compositional test set)

In CSV the ``clips`` cell holds the list as JSON. A malformed row is reported as a :class:`ManifestRowError`
naming the file, the row and the field, and the other rows still load: a byte that is not UTF-8, a lone surrogate,
a label longer than ``MAX_LABEL_CHARS``, a uri longer than ``MAX_URI_CHARS``, more than ``MAX_CLIPS`` clips, or a
line (CSV: a cell) longer than ``MAX_LINE_BYTES`` fails its row alone. Texts longer than ``MAX_TEXT_CHARS`` are cut
to that length and the cut is reported in ``Manifest.warnings``.
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
    "MAX_CLIPS",
    "MAX_LABEL_CHARS",
    "MAX_LINE_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_URI_CHARS",
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

# Size limits of one row. A transcript or description longer than a few pages is a mistake (a pasted document, a
# runaway ASR); it is cut, not refused, so the video is still ingested. Labels are filter values and uris paths.
MAX_TEXT_CHARS = 20_000  # asr, reference, general, and a clip's keywords joined by "; ": longer texts are cut
MAX_LABEL_CHARS = 200  # industry, sub_industry, product, game, split: a longer value fails the row
MAX_URI_CHARS = 4096  # PATH_MAX on Linux: a longer uri fails the row
MAX_CLIPS = 1024  # clips of one row (the catalog's ids hold at most 1,024 shots per video)
MAX_LINE_BYTES = 16 << 20  # a JSONL line or a CSV cell longer than this (16 MiB) fails its row, unparsed
_SHOWN_CHARS = 60  # how much of a bad value an error message quotes


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
    warnings: list[ManifestRowError] = field(default_factory=list)  # rows that loaded with a text cut to size

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


_Warnings = list[tuple[str, str]]  # (field, message) of the texts cut in one row


def _shown(v: Any) -> str:
    """``repr(v)``, shortened to what an error message can quote."""
    r = repr(v)
    return r if len(r) <= _SHOWN_CHARS else f"{r[: _SHOWN_CHARS - 5]}...{r[-2:]} ({len(str(v)):,} characters)"


def _check_unicode(s: str, field: str, where: str = "") -> str:
    """``s`` unchanged if it is valid Unicode text; a byte that was not UTF-8 or a lone surrogate fails the row.

    Files are decoded with ``surrogateescape``, so a byte that is not UTF-8 arrives as U+DC80..U+DCFF; JSON's
    ``"\\ud800"`` escapes give the other lone surrogates. Neither can be stored (DuckDB refuses them).
    """
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        c = ord(s[e.start])
        if 0xDC80 <= c <= 0xDCFF:
            raise _RowError(field, f"{where}not valid UTF-8: byte 0x{c - 0xDC00:02x} at character {e.start}") from None
        raise _RowError(
            field, f"{where}holds a lone surrogate U+{c:04X} at character {e.start}, not valid Unicode"
        ) from None
    return s


def _cap_text(s: str, field: str, warnings: _Warnings, where: str = "") -> str:
    """``s`` cut to ``MAX_TEXT_CHARS`` (at a space near the limit when there is one), with a warning when cut."""
    if len(s) <= MAX_TEXT_CHARS:
        return s
    cut = s[:MAX_TEXT_CHARS]
    space = cut.rfind(" ", MAX_TEXT_CHARS - MAX_TEXT_CHARS // 10)
    cut = (cut[:space] if space > 0 else cut).rstrip()
    warnings.append((field, f"{where}text of {len(s):,} characters cut to {len(cut):,} (limit {MAX_TEXT_CHARS:,})"))
    return cut


def _opt_str(raw: dict[str, Any], key: str, *, max_chars: int | None = MAX_LABEL_CHARS) -> str | None:
    """A text cell: None when empty; a non-text value, invalid Unicode or more than ``max_chars`` fail the row."""
    v = raw.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if not isinstance(v, str | int | float):
        raise _RowError(key, f"expected text, got {type(v).__name__}")
    s = _check_unicode(str(v), key).strip()
    if max_chars is not None and len(s) > max_chars:
        raise _RowError(key, f"{len(s):,} characters is longer than the limit of {max_chars:,}: {_shown(s)}")
    return s or None


def _number(v: Any, field_name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError) as e:
        raise _RowError(field_name, f"expected a number of seconds, got {_shown(v)}") from e
    if not math.isfinite(x):
        raise _RowError(field_name, f"expected a finite number of seconds, got {_shown(v)}")
    return x


def _parse_clip(item: Any, i: int, warnings: _Warnings) -> ClipRecord:
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
        v = _check_unicode(v, "clips", f"{where}.{k}: ").strip() if isinstance(v, str) else ""
        texts[k] = _cap_text(v, "clips", warnings, f"{where}.{k}: ") if v else None
    kw = item.get("keywords") or ()
    if isinstance(kw, str):
        kw = [k for k in (s.strip() for s in kw.split(";")) if k]
    if not isinstance(kw, list | tuple) or not all(isinstance(k, str) for k in kw):
        raise _RowError("clips", f"{where}.keywords: expected a list of words")
    kept, size = [], 0
    for k in kw:
        _check_unicode(k, "clips", f"{where}.keywords: ")
        size += len(k) + 2 * bool(kept)  # joined with "; " when stored
        if size > MAX_TEXT_CHARS:
            warnings.append(
                (
                    "clips",
                    f"{where}.keywords: {len(kw):,} keywords cut to {len(kept):,} ({MAX_TEXT_CHARS:,} characters)",
                )
            )
            break
        kept.append(k)
    return ClipRecord(start_s=start, end_s=end, keywords=tuple(kept), **texts)


def _parse_clips(v: Any, warnings: _Warnings) -> tuple[ClipRecord, ...] | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        _check_unicode(v, "clips")
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise _RowError("clips", f"not valid JSON ({e.msg} at char {e.pos})") from e
        except (ValueError, RecursionError) as e:  # a number of more than 4,300 digits, arrays nested too deep
            raise _RowError("clips", _unusable_json(e)) from e
    if hasattr(v, "tolist"):  # numpy array from parquet
        v = v.tolist()
    if not isinstance(v, list):
        raise _RowError("clips", f"expected a list of clips, got {type(v).__name__}")
    if not v:
        return None
    if len(v) > MAX_CLIPS:
        raise _RowError("clips", f"{len(v):,} clips is more than the {MAX_CLIPS:,} a video may have")
    clips = tuple(_parse_clip(item, i, warnings) for i, item in enumerate(v))
    for i, (a, b) in enumerate(itertools.pairwise(clips)):
        if b.start_s < a.end_s - 1e-6:
            raise _RowError("clips", f"clips[{i + 1}] starts at {b.start_s} before clips[{i}] ends at {a.end_s}")
    return clips


def _parse_row(raw: dict[str, Any], row: int, warnings: _Warnings) -> VideoRecord:
    if not isinstance(raw, dict):
        raise _RowError(None, f"expected an object, got {type(raw).__name__}")
    uri = _opt_str(raw, "uri", max_chars=MAX_URI_CHARS)
    if uri is None:
        raise _RowError("uri", "missing: every row needs the path of its video")
    split = _opt_str(raw, "split")
    if split is not None and split not in SPLITS:
        raise _RowError("split", f"unknown split {_shown(split)}; valid: {', '.join(SPLITS)} or empty")
    labels = {k: _opt_str(raw, k) for k in LABELS}
    asr = _opt_str(raw, "asr", max_chars=None)
    return VideoRecord(
        uri=uri,
        clips=_parse_clips(raw.get("clips"), warnings),
        asr=_cap_text(asr, "asr", warnings) if asr else None,
        split=split,
        row=row,
        **labels,
    )


def _printable(v: Any) -> str | None:
    """A row's uri as error rows can store it: text, invalid bytes escaped (\\xff), at most MAX_URI_CHARS."""
    if not isinstance(v, str) or not v.strip():
        return None
    try:
        data = v.encode("utf-8", "surrogateescape")  # the bytes of the file, as they were
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        data = v.encode("utf-8", "backslashreplace")
    s = data.decode("utf-8", "backslashreplace").strip()
    return s if len(s) <= MAX_URI_CHARS else s[: MAX_URI_CHARS - 3] + "..."


def _unusable_json(e: BaseException) -> str:
    """Why valid-looking JSON could not be loaded, in words."""
    if isinstance(e, RecursionError):
        return "not usable JSON: arrays or objects nested too deep"
    if "digits" in str(e):
        return "not usable JSON: a number with more than 4,300 digits"
    return f"not usable JSON ({str(e)[:100]})"


def _jsonl_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | Exception]]:
    with path.open("rb") as f:
        i, first = 0, True
        while line := f.readline(MAX_LINE_BYTES + 1):
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):  # skip the rest unread, in bounded reads
                size = len(line)
                while (more := f.readline(1 << 20)) and not more.endswith(b"\n"):
                    size += len(more)
                size += len(more)
                i += 1
                yield i, _RowError(None, f"line of {size:,} bytes is longer than the limit of {MAX_LINE_BYTES:,} bytes")
                continue
            if first and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                line = line[3:]
            first = False
            text = line.decode("utf-8", "surrogateescape")  # a bad byte fails only the field it is in
            if not text.strip():
                continue
            i += 1
            try:
                yield i, json.loads(text)
            except json.JSONDecodeError as e:
                yield i, _RowError(None, f"not valid JSON ({e.msg} at char {e.pos})")
            except (ValueError, RecursionError) as e:  # a number of more than 4,300 digits, arrays nested too deep
                yield i, _RowError(None, _unusable_json(e))


def _csv_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | Exception]]:
    # The csv module refuses cells over 131,072 characters by default; the limit is process-wide and is only
    # ever raised here, to MAX_LINE_BYTES, so that long cells reach the per-field limits.
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except csv.Error as e:
            raise ValueError(f"{path}: unreadable CSV header ({e})") from e
        if header is None or "uri" not in header:
            raise ValueError(f"{path}: CSV header must contain a 'uri' column, got {header}")
        i = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # a cell over MAX_LINE_BYTES; the reader goes on at the next line
                i += 1
                yield i, _RowError(None, f"unreadable CSV record ({e}; the limit is {MAX_LINE_BYTES:,})")
                continue
            if not cells:  # a blank line
                continue
            i += 1
            if len(cells) > len(header):
                yield i, _RowError(None, f"{len(cells) - len(header)} more cells than the header has columns")
            else:
                yield i, dict(itertools.zip_longest(header, cells))


def _parquet_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | Exception]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{path}: not a readable Parquet file ({e})") from e
    if "uri" not in table.column_names:
        raise ValueError(f"{path}: Parquet file must contain a 'uri' column, got {table.column_names}")
    try:
        yield from enumerate(table.to_pylist(), start=1)
    except (pa.ArrowException, UnicodeDecodeError, ValueError):  # a bad value: convert row by row to find it
        for i in range(table.num_rows):
            try:
                yield i + 1, table.slice(i, 1).to_pylist()[0]
            except (pa.ArrowException, UnicodeDecodeError, ValueError) as e:
                yield i + 1, _RowError(None, f"unreadable Parquet row ({str(e)[:200]})")


def _raw_rows(path: Path) -> Iterable[tuple[int, dict[str, Any] | Exception]]:
    """Yield (1-based row number, raw row dict or the exception that made it unreadable)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix == ".jsonl":
        yield from _jsonl_rows(path)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise ValueError(f"{path}: unknown manifest format '{suffix}'; valid: {', '.join(FORMATS)}")


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest; malformed rows become :class:`ManifestRowError` entries and the rest still load.

    Texts over ``MAX_TEXT_CHARS`` are cut and reported in ``warnings``; see the module docstring for every limit.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the format is unknown or the file has no ``uri`` column at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    manifest = Manifest(path=path)
    for row, raw in _raw_rows(path):
        uri = _printable(raw.get("uri")) if isinstance(raw, dict) else None
        warnings: _Warnings = []
        try:
            if isinstance(raw, Exception):
                raise raw
            manifest.records.append(_parse_row(raw, row, warnings))
        except _RowError as e:
            err = ManifestRowError(str(path), row, e.field, str(e), uri)
            _log.warning("%s", err)
            manifest.errors.append(err)
            continue
        for field_name, message in warnings:
            warning = ManifestRowError(str(path), row, field_name, message, uri)
            _log.warning("%s", warning)
            manifest.warnings.append(warning)
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
