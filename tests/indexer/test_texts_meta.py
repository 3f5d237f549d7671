"""texts.meta (migration 002): JSON metadata beside a text, e.g. an OCR text's per-line frame times and boxes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from indexer.catalog import open_catalog


def test_meta_round_trips_and_plain_rows_store_null(tmp_path: Path) -> None:
    meta = {"lines": [{"text": "JADE", "t_s": 1.25, "box": [10, 20, 90, 44], "score": 0.99}]}
    with open_catalog(tmp_path / "catalog.duckdb") as cat:
        assert cat.upsert_texts([(7, "ocr", "JADE", "rapidocr:1.4.4", meta), (7, "general", "a man", "m1")]) == 2
        rows = cat.query("SELECT kind, text, meta FROM texts ORDER BY kind")
        assert [r["kind"] for r in rows] == ["general", "ocr"]
        assert rows[0]["meta"] is None
        assert json.loads(rows[1]["meta"]) == meta
        # replacing the row replaces its meta too
        cat.upsert_texts([(7, "ocr", "KOVA", "rapidocr:1.4.4", None)])
        row = cat.query("SELECT text, meta FROM texts WHERE kind = 'ocr'")[0]
        assert row == {"text": "KOVA", "meta": None}


def test_a_catalog_at_schema_1_gains_the_column_and_keeps_its_texts(tmp_path: Path) -> None:
    path = tmp_path / "catalog.duckdb"
    init = resources.files("indexer.migrations").joinpath("001_init.sql").read_text(encoding="utf-8")
    con = duckdb.connect(str(path))
    con.execute(init)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    con.execute("INSERT INTO schema_migrations VALUES (1, '001_init.sql')")
    con.execute("INSERT INTO texts (clip_id, kind, text, source) VALUES (3, 'asr', 'buy now', 'manifest')")
    con.close()
    with open_catalog(path) as cat:
        assert cat.schema_version >= 2
        assert cat.query("SELECT clip_id, text, meta FROM texts") == [{"clip_id": 3, "text": "buy now", "meta": None}]


def test_a_catalog_at_schema_3_keeps_its_texts_and_their_key_and_takes_tags(tmp_path: Path) -> None:
    """Migration 004 rebuilds ``texts`` (DuckDB cannot alter a CHECK constraint): every row, its meta and creation
    time stay, the primary key still replaces a row, and the new kind ``tags`` is accepted; others still are not."""
    path = tmp_path / "catalog.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    for n in ("001_init.sql", "002_texts_meta.sql", "003_transcribed.sql"):
        con.execute(resources.files("indexer.migrations").joinpath(n).read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [int(n[:3]), n])
    con.execute(
        "INSERT INTO texts (clip_id, kind, text, source, meta) VALUES "
        "(3, 'asr', 'buy now', 'manifest', NULL), (3, 'ocr', 'JADE', 'rapidocr', '{\"lines\": []}')"
    )
    before = con.execute("SELECT * FROM texts ORDER BY kind").fetchall()
    con.close()
    with open_catalog(path) as cat:
        assert cat.schema_version >= 4
        assert cat.con.execute("SELECT * FROM texts ORDER BY kind").fetchall() == before
        cat.upsert_texts([(3, "tags", "A woman with curly hair.", "tagger-x"), (3, "asr", "buy it now", "manifest")])
        rows = cat.query("SELECT kind, text FROM texts ORDER BY kind")
        assert rows == [
            {"kind": "asr", "text": "buy it now"},  # replaced by its key, not duplicated
            {"kind": "ocr", "text": "JADE"},
            {"kind": "tags", "text": "A woman with curly hair."},
        ]
        with pytest.raises(ValueError, match="unknown text kind"):
            cat.upsert_texts([(3, "caption", "x", "m")])
    with pytest.raises(duckdb.ConstraintException):  # the constraint itself, below the Python check
        duckdb.connect(str(path)).execute("INSERT INTO texts (clip_id, kind, text, source) VALUES (4, 'x', 'y', 'z')")
