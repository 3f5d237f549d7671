"""End to end: the Gradio app on a free localhost port, driven by Debian's Chromium through playwright.

The workspace is the session's tiny real one (tests/search_workspace.py); its fine and general captions are
stand-ins written from the manifest, because training the captioners takes minutes.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from adsearch.workspace import Workspace
from tests.search_workspace import session_workspace

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: `apt-get install chromium` (make test does it)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _a_fine_query(ws: Workspace) -> tuple[int, str]:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        row = cat.query(
            "SELECT t.clip_id, t.text FROM texts t JOIN clips c USING (clip_id) JOIN videos v USING (video_id) "
            "WHERE t.kind = 'fine' AND v.split = 'test' ORDER BY t.clip_id LIMIT 1"
        )[0]
    return row["clip_id"], row["text"]


def _n_clips(ws: Workspace) -> int:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return cat.query("SELECT count(*) AS n FROM clips")[0]["n"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    from adsearch.app import launch
    from adsearch.index import update_text_indexes

    # a copy of the session's workspace with the text channels published too (the shared one stays visual-only)
    ws = Workspace.resolve(tmp_path_factory.mktemp("app-ws") / "ws")
    shutil.copytree(session_workspace(tmp_path_factory).root, ws.root)
    update_text_indexes(ws, progress=False)
    server = launch(ws, port=_free_port(), block=False)  # the API and the app on one port, as `adsearch serve`
    yield ws, f"{server.url}/"
    server.close()


def test_search_then_compare_in_chromium(app_url, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ws, url = app_url
    clip_id, query = _a_fine_query(ws)
    shot = tmp_path / "app_screenshot.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(30_000)
        page.goto(url)

        # An empty query is an error in the page, not a stack trace.
        page.click("#search-btn")
        page.wait_for_selector("#search-status .app-error")
        assert "Traceback" not in page.inner_text("body")

        page.fill("#query textarea", query)
        page.fill("#k input[type=number]", "50")  # more than the catalog's clips: every clip comes back
        page.keyboard.press("Tab")
        page.click("#search-btn")
        page.wait_for_selector(".result-card")
        cards = page.locator(".result-card")
        assert cards.count() == _n_clips(ws)
        assert page.locator("#results img").count() == cards.count()
        assert f'data-clip-id="{clip_id}"' in page.inner_html("#result-cards"), "the clip described is a result"
        assert "fine description:" in cards.first.inner_text() and "general caption:" in cards.first.inner_text()
        # the card of the clip the query describes says which channels matched and marks the matched words
        described = page.locator(f'.result-card[data-clip-id="{clip_id}"]')
        why = described.locator(".rc-why")
        assert "description" in why.locator(".rc-channels").inner_text()
        assert described.locator(".rc-snippet mark").count() > 0
        assert "results in" in page.inner_text("#search-status")
        thumbs = page.locator("#results img")
        thumbs.first.wait_for()
        assert page.evaluate("(img) => img.naturalWidth", thumbs.first.element_handle()) > 0

        thumbs.first.click()  # opening a result plays its clip segment
        page.wait_for_selector("#clip-video video[src]")
        assert "score" in page.inner_text("#clip-details")

        page.get_by_role("tab", name="Compare").click()
        assert page.input_value("#compare-pick input") == "", "no clip is preselected without its comparison"
        expect, shown = playwright.expect, []
        for _ in range(3):  # every press compares a clip other than the one shown
            page.click("#compare-random")
            picked = page.locator("#compare-pick input")
            expect(picked).not_to_have_value(shown[-1] if shown else "")
            shown.append(picked.input_value())
            expect(page.locator("#compare-status")).to_contain_text(f"clip {shown[-1].split(' ', 1)[0]} (split test)")
            page.wait_for_selector("#compare-fine :text('rank of this clip'), #compare-fine :text('not in the top')")
            assert "General caption" in page.inner_text("#compare-general")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
