"""Search inputs a caller controls are validated: k and every other size bounded, query text and filter values of
the wrong type or encoding refused with a QueryError (issue 15 #8, #9), on a tiny real workspace."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adsearch import index as ws_index
from benchmarks.fuzz import fuzz_queries
from indexer.search import (
    FILTER_FIELDS,
    MAX_BATCH,
    MAX_FILTER_VALUES,
    MAX_K,
    MAX_QUERY_CHARS,
    Filters,
    QueryError,
    Searcher,
    check_query,
)

from .index_helpers import tiny_workspace

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    """The 12-clip tiny workspace, embedded and indexed, searched through its (untrained) text tower."""
    ws = tiny_workspace(tmp_path_factory.mktemp("search-inputs"))
    ws_index.embed_catalog(ws, progress=False)
    ws_index.build(ws, progress=False)
    return ws_index.open_searcher(ws)


def test_k_is_bounded_with_a_clear_error(searcher: Searcher) -> None:
    # issue 15 #8: search(k=10**9) allocated k-sized result arrays and was killed by the OOM killer
    for k in (10**9, MAX_K + 1, 2**63):
        with pytest.raises(QueryError, match=f"k must be an integer from 1 to {MAX_K:,}"):
            searcher.search("a red scene", k=k)
        with pytest.raises(QueryError, match="k must be"):
            searcher.search_vectors(np.ones((1, 32), np.float32), k=k)
        with pytest.raises(QueryError, match="k must be"):
            searcher.search_batch(["a red scene"], k=k)
    for k in (0, -1, 2.5, "10", True, None):
        with pytest.raises(QueryError, match="k must be"):
            searcher.search("a red scene", k=k)
    assert len(searcher.search("a red scene", k=MAX_K)) == 12  # the bound itself is allowed: every clip comes back


def test_batch_and_filter_sizes_are_bounded(searcher: Searcher) -> None:
    # issue 15 #8: every other size a caller controls has a limit too
    with pytest.raises(QueryError, match=f"at most {MAX_BATCH:,} queries"):
        searcher.search_batch(["a red scene"] * (MAX_BATCH + 1))
    with pytest.raises(QueryError, match=f"at most {MAX_BATCH:,} query vectors"):
        searcher.search_vectors(np.ones((MAX_BATCH + 1, 32), np.float32))
    with pytest.raises(QueryError, match=f"at most {MAX_FILTER_VALUES:,} values"):
        Filters(industry=[f"i{i}" for i in range(MAX_FILTER_VALUES + 1)])
    with pytest.raises(QueryError, match="characters"):
        Filters(product="p" * 10_000)
    with pytest.raises(QueryError, match=f"limit is {MAX_QUERY_CHARS}"):
        searcher.search("q" * (MAX_QUERY_CHARS + 1))


@pytest.mark.parametrize(
    "query",
    [
        "caf\udce9 bad byte",  # what a command line gives for a byte that is not UTF-8 (surrogateescape)
        "a lone \ud800 surrogate",
        b"a red scene",  # bytes, not text
        "\x00\x00",  # control characters only
        None,
        42,
    ],
    ids=["bad-byte", "lone-surrogate", "bytes", "nul", "none", "int"],
)
def test_query_text_that_is_not_valid_text_is_a_query_error(searcher: Searcher, query: object) -> None:
    # issue 15 #9: a lone surrogate or invalid UTF-8 gave a TypeError traceback from the tokenizer
    with pytest.raises(QueryError):
        searcher.search(query)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="query 1"):
        searcher.search_batch(["a red scene", query])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "value",
    [5, 2.5, True, [5], ["games", None], {"games": 1}, b"games", "g\udcffames", [["games"]], object()],
    ids=["int", "float", "bool", "list-int", "list-none", "dict", "bytes", "bad-byte", "nested", "object"],
)
def test_filter_values_of_the_wrong_type_are_a_query_error(value: object) -> None:
    # issue 15 #9: Filters(industry=5) raised a TypeError while the filter was built
    with pytest.raises(QueryError, match="industry"):
        Filters(industry=value)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="industry"):
        Filters.from_dict({"industry": value})


def test_valid_filters_still_work(searcher: Searcher) -> None:
    assert Filters(industry="games", game=("rpg", "moba")).active() == {"industry": ["games"], "game": ["rpg", "moba"]}
    hits = searcher.search("a red scene", k=12, filters=Filters(industry=["games"], split="test"))
    assert hits and all(h.labels["industry"] == "games" and h.labels["split"] == "test" for h in hits)
    assert searcher.search("a red scene", filters=Filters(industry="no such industry")) == []


# --- fuzz: random texts, sizes and types (issue 15) ---------------------------------------------------------------


@settings(max_examples=300, deadline=None, derandomize=True)
@given(query=st.one_of(st.text(alphabet=st.characters(codec=None, exclude_categories=())), st.binary(), st.none()))
def test_any_query_is_text_or_a_query_error(query: object) -> None:
    try:
        text = check_query(query)  # type: ignore[arg-type]
    except QueryError:
        return
    assert text and text == text.strip() and len(text) <= MAX_QUERY_CHARS
    text.encode("utf-8")  # the tokenizer gets valid text


_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300), st.binary(max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(values=st.dictionaries(st.sampled_from([*FILTER_FIELDS, "colour", ""]), _VALUES, max_size=3))
def test_any_filter_values_are_filters_or_a_query_error(values: dict) -> None:
    try:
        filters = Filters.from_dict(values)
    except QueryError:
        return
    for name, got in filters.active().items():
        assert name in FILTER_FIELDS and all(isinstance(v, str) and len(v) <= 200 for v in got)


def test_fuzzed_searches_answer_or_raise_query_error(searcher: Searcher) -> None:
    done, findings = fuzz_queries(random.Random(15), cases=300, deadline=time.monotonic() + 20, searcher=searcher)
    assert done >= 50
    report = "\n".join(f"{f.kind}: {f.case}: {f.detail[:300]}" for f in findings)
    assert not findings, f"{len(findings)} findings in {done} searches:\n{report}"
