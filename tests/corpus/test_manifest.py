"""Manifest schema: round trips through CSV, JSONL and Parquet, and malformed rows that name file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.manifest import (
    MAX_LABEL_CHARS,
    MAX_LINE_BYTES,
    MAX_TEXT_CHARS,
    ClipRecord,
    VideoRecord,
    read_manifest,
    resolve_uri,
    write_manifest,
)

RECORDS = [
    VideoRecord(
        uri="videos/a.mp4",
        clips=(
            ClipRecord(0.0, 2.5, reference="A woman in a red dress waves.", general="a woman waves", keywords=("red",)),
            ClipRecord(2.5, 6.0, reference="A blue, glass bottle; it rotates.", keywords=("blue", "glass", "rotates")),
        ),
        asr="buy now, limited offer",
        industry="e-commerce",
        sub_industry="beauty",
        product="bottle",
        split="train",
        row=1,
    ),
    VideoRecord(uri="/abs/b.mp4", game="rpg", industry="games", split="test_comp", row=2),
    VideoRecord(uri="c.mp4", row=3),
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    path = write_manifest(RECORDS, tmp_path / f"m{suffix}")
    m = read_manifest(path)
    assert m.errors == []
    assert m.records == RECORDS
    assert not list(tmp_path.glob(".*.part")), "the temporary file must be renamed away"


def test_unknown_format_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv, \.jsonl, \.parquet"):
        write_manifest(RECORDS, tmp_path / "m.txt")
    (tmp_path / "m.txt").write_text("uri\n")
    with pytest.raises(ValueError, match="unknown manifest format"):
        read_manifest(tmp_path / "m.txt")
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "missing.csv")


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "m.csv"
    p.write_text("uri,clips,asr,industry,sub_industry,product,game,split\n" + "\n".join(rows) + "\n")
    return p


def test_malformed_csv_rows_are_reported_and_the_rest_load(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            'ok1.mp4,"[[0, 2], [2, 4.5]]",,,,,,train',  # 1 ok: pairs form
            ',"",,,,,,train',  # 2 missing uri
            'bad_json.mp4,"[{""start_s"": 0,",,,,,,',  # 3 clips not JSON
            "bad_split.mp4,,,,,,,holdout",  # 4 unknown split
            'backwards.mp4,"[[3, 1]]",,,,,,',  # 5 end before start
            'overlap.mp4,"[[0, 3], [2, 4]]",,,,,,',  # 6 overlapping clips
            'nan.mp4,"[{""start_s"": ""x"", ""end_s"": 1}]",,,,,,',  # 7 start not a number
            "extra.mp4,,,,,,,,surplus",  # 8 too many cells
            "ok2.mp4,,hello,games,,,rpg,test",  # 9 ok
        ],
    )
    m = read_manifest(path)
    assert [r.uri for r in m.records] == ["ok1.mp4", "ok2.mp4"]
    assert m.records[0].clips == (ClipRecord(0.0, 2.0), ClipRecord(2.0, 4.5))
    assert m.records[0].row == 1 and m.records[1].row == 9
    got = {(e.row, e.field) for e in m.errors}
    assert got == {(2, "uri"), (3, "clips"), (4, "split"), (5, "clips"), (6, "clips"), (7, "clips"), (8, None)}
    by_row = {e.row: e for e in m.errors}
    assert str(path) in str(by_row[4]) and "row 4" in str(by_row[4]) and "'split'" in str(by_row[4])
    assert "train, val, test, test_comp" in by_row[4].message
    assert by_row[4].uri == "bad_split.mp4" and by_row[2].uri is None


def test_malformed_jsonl_rows(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    lines = [
        json.dumps({"uri": "a.mp4", "clips": [{"start_s": 0, "end_s": 1, "keywords": "red; bag"}]}),
        "{not json",
        json.dumps({"uri": "b.mp4", "clips": [{"start_s": 0}]}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"uri": "c.mp4", "clips": {"start_s": 0}}),
        json.dumps({"uri": "d.mp4", "industry": ["not", "text"]}),
    ]
    p.write_text("\n".join(lines) + "\n")
    m = read_manifest(p)
    assert [r.uri for r in m.records] == ["a.mp4"]
    assert m.records[0].clips[0].keywords == ("red", "bag")
    assert [(e.row, e.field) for e in m.errors] == [(2, None), (3, "clips"), (4, None), (5, "clips"), (6, "industry")]
    assert "missing end_s" in m.errors[1].message


def test_csv_without_uri_column_is_rejected_whole(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("path,split\na.mp4,train\n")
    with pytest.raises(ValueError, match="'uri' column"):
        read_manifest(p)


def test_resolve_uri(tmp_path: Path) -> None:
    assert resolve_uri("v/a.mp4", tmp_path) == tmp_path / "v" / "a.mp4"
    assert resolve_uri("/x/a.mp4", tmp_path) == Path("/x/a.mp4")
    assert resolve_uri("file:///x/a%20b.mp4", tmp_path) == Path("/x/a b.mp4")
    with pytest.raises(ValueError, match="unsupported uri scheme 'https://'"):
        resolve_uri("https://example.org/a.mp4", tmp_path)


# --- issue 15: bad bytes, huge cells and unbounded texts fail (or are cut) row by row ----------------------------


def test_a_non_utf8_byte_fails_its_row_alone_in_jsonl(tmp_path: Path) -> None:
    # issue 15 #4: one byte 0xff in row 2 lost the whole manifest (UnicodeDecodeError, no row number)
    p = tmp_path / "m.jsonl"
    good = [json.dumps({"uri": f"v{i}.mp4", "asr": "buy now"}).encode() for i in range(4)]
    bad_asr = b'{"uri": "bad.mp4", "asr": "caf\xe9 \xff"}'
    bad_uri = b'{"uri": "\xc3\x28.mp4"}'
    escaped_surrogate = json.dumps({"uri": "sur.mp4", "asr": "x"}).replace('"x"', '"\\ud800"').encode()
    p.write_bytes(b"\n".join([good[0], bad_asr, good[1], bad_uri, good[2], escaped_surrogate, good[3]]) + b"\n")
    m = read_manifest(p)
    assert [r.uri for r in m.records] == ["v0.mp4", "v1.mp4", "v2.mp4", "v3.mp4"]
    assert [r.row for r in m.records] == [1, 3, 5, 7]
    assert [(e.row, e.field) for e in m.errors] == [(2, "asr"), (4, "uri"), (6, "asr")]
    assert "not valid UTF-8" in m.errors[0].message and "0xe9" in m.errors[0].message
    assert m.errors[0].uri == "bad.mp4" and str(p) in str(m.errors[0]) and "row 2" in str(m.errors[0])
    assert "surrogate" in m.errors[2].message


def test_a_non_utf8_byte_fails_its_row_alone_in_csv(tmp_path: Path) -> None:
    # issue 15 #4: the same in CSV, in a label and inside the JSON of the clips cell
    p = tmp_path / "m.csv"
    rows = [
        b"uri,clips,asr,industry,sub_industry,product,game,split",
        b"a.mp4,,hello,games,,,,train",
        b"b.mp4,,,g\xffames,,,,train",
        b'c.mp4,"[{""start_s"": 0, ""end_s"": 1, ""reference"": ""r\xe9d""}]",,,,,,',
        b"d.mp4,,,,,,,test",
    ]
    p.write_bytes(b"\n".join(rows) + b"\n")
    m = read_manifest(p)
    assert [r.uri for r in m.records] == ["a.mp4", "d.mp4"]
    assert [(e.row, e.field, e.uri) for e in m.errors] == [(2, "industry", "b.mp4"), (3, "clips", "c.mp4")]
    assert all("not valid UTF-8" in e.message for e in m.errors)


def test_a_utf8_bom_is_not_part_of_the_header(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_bytes("\ufeffuri,split\na.mp4,train\n".encode())
    assert [r.uri for r in read_manifest(p).records] == ["a.mp4"]
    q = tmp_path / "m.jsonl"
    q.write_bytes("\ufeff".encode() + b'{"uri": "a.mp4"}\n')
    assert [r.uri for r in read_manifest(q).records] == ["a.mp4"]


def test_a_csv_cell_over_the_csv_module_limit_is_read_and_capped(tmp_path: Path) -> None:
    # issue 15 #5: a cell over 131,072 characters raised "field larger than field limit" and lost the manifest
    p = tmp_path / "m.csv"
    long_asr = "word " * 39_999 + "words"  # 200,000 characters
    p.write_text(f"uri,asr\na.mp4,short\nb.mp4,{long_asr}\nc.mp4,fine\n")
    m = read_manifest(p)
    assert [r.uri for r in m.records] == ["a.mp4", "b.mp4", "c.mp4"]
    assert len(m.records[1].asr) <= MAX_TEXT_CHARS and m.records[1].asr.startswith("word word")
    assert [(w.row, w.field) for w in m.warnings] == [(2, "asr")]
    assert "200,000 characters" in m.warnings[0].message and f"{MAX_TEXT_CHARS:,}" in m.warnings[0].message


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_texts_are_capped_and_labels_and_uris_bounded(tmp_path: Path, suffix: str) -> None:
    # issue 15 #6: a 10 MB ASR text was stored as is; texts are cut at MAX_TEXT_CHARS with a warning naming the
    # row and field, and labels or uris no person would write fail their row
    huge = "x" * (MAX_TEXT_CHARS + 5)
    records = [
        VideoRecord(uri="a.mp4", asr="a " * 5_000_000, row=1),  # a 10 MB transcript
        VideoRecord(uri="b.mp4", clips=(ClipRecord(0, 1, reference=huge, general="g"),), row=2),
        VideoRecord(uri="c.mp4", industry="i" * (MAX_LABEL_CHARS + 1), row=3),
        VideoRecord(uri="d/" * 3000 + "d.mp4", row=4),
        VideoRecord(uri="e.mp4", clips=(ClipRecord(0, 1, keywords=tuple(f"k{i}" for i in range(5000))),), row=5),
        VideoRecord(uri="f.mp4", asr="fine", row=6),
    ]
    m = read_manifest(write_manifest(records, tmp_path / f"m{suffix}"))
    assert [r.uri for r in m.records] == ["a.mp4", "b.mp4", "e.mp4", "f.mp4"]
    a, b, e, f = m.records
    assert len(a.asr) <= MAX_TEXT_CHARS and len(b.clips[0].reference) <= MAX_TEXT_CHARS
    assert b.clips[0].general == "g" and f.asr == "fine"
    assert len("; ".join(e.clips[0].keywords)) <= MAX_TEXT_CHARS
    assert [(w.row, w.field) for w in m.warnings] == [(1, "asr"), (2, "clips"), (5, "clips")]
    assert [(x.row, x.field) for x in m.errors] == [(3, "industry"), (4, "uri")]
    assert f"{MAX_LABEL_CHARS}" in m.errors[0].message


def test_a_manifest_line_over_the_limit_fails_alone(tmp_path: Path) -> None:
    # issue 15 #6: manifest lines are capped; a longer JSONL line fails its row and is never held whole in memory
    p = tmp_path / "m.jsonl"
    big = json.dumps({"uri": "big.mp4", "asr": "y" * (MAX_LINE_BYTES + 10)})
    p.write_text("\n".join([json.dumps({"uri": "a.mp4"}), big, json.dumps({"uri": "c.mp4"})]) + "\n")
    m = read_manifest(p)
    assert [(r.uri, r.row) for r in m.records] == [("a.mp4", 1), ("c.mp4", 3)]
    assert [(e.row, e.field) for e in m.errors] == [(2, None)]
    assert "line" in m.errors[0].message and f"{MAX_LINE_BYTES:,}" in m.errors[0].message
