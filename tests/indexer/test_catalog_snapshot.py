"""The searcher's catalog copy keeps answering while a writer holds the file, in another process or in this one."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.catalog import open_catalog
from indexer.catalog_snapshot import CatalogSnapshot


def _catalog_count(snapshot: CatalogSnapshot) -> int:
    return snapshot.cursor().execute("SELECT count(*) FROM catalogs").fetchone()[0]


def test_a_writer_in_this_process_leaves_the_last_copy_answering(tmp_path: Path) -> None:
    """The search service adds a catalog in a background thread of its own process while it searches: DuckDB
    refuses a second attach of a file this process holds (ResourceInUseException), which must read as "busy"."""
    path = tmp_path / "catalog.duckdb"
    open_catalog(path).close()
    snapshot = CatalogSnapshot(path, check_interval_s=0.0)
    assert _catalog_count(snapshot) == 0
    with open_catalog(path) as writer:
        writer.con.execute("INSERT INTO catalogs (catalog_id) VALUES ('new')")
        assert snapshot.refresh(force=True) is False  # busy: no exception, the old copy stays
        assert _catalog_count(snapshot) == 0
    assert snapshot.refresh(force=True) is True
    assert _catalog_count(snapshot) == 1


def test_the_first_copy_under_a_writer_in_this_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.duckdb"
    with open_catalog(path), pytest.raises(ValueError, match="being written"):
        CatalogSnapshot(path)
