"""Manifest schema: round trips through CSV, JSONL and Parquet, and malformed rows that name file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.manifest import ClipRecord, VideoRecord, read_manifest, resolve_uri, write_manifest

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
