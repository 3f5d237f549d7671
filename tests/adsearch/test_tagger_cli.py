"""`adsearch tag` on a tiny ingested catalog: a tagger trained on the generator's ground truth writes one `tags`
text per clip (resumable, unreadable clips reported), the description channel indexes it, and a tagger trained on
another captioner's inputs is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from adsearch.captioner import caption_items, load_trained_captioner
from adsearch.cli import main
from adsearch.tagger import TAGS_KIND, _features, plan_attributes, tag_catalog, tag_texts
from adsearch.workspace import Workspace
from captioner import load_frames
from captioner.tagger import fit_tagger, save_tagger
from captioner.train import frozen_inputs_key
from indexer.catalog import open_catalog
from indexer.text_index import channel_documents
from tests.adsearch.captioner_workspace import N_CLIPS, SEED, trained_workspace


def _catalog_id(ws: Workspace) -> str:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        (row,) = cat.query("SELECT catalog_id FROM catalogs")
    return row["catalog_id"]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, object, dict]:
    """The tiny workspace with a tagger trained on its own clips' ground truth as models/tagger."""
    root, _ = trained_workspace(tmp_path_factory, "tagger-cli")
    ws = Workspace(root)
    net = load_trained_captioner(ws, "fine")
    labels = plan_attributes(ws, _catalog_id(ws), N_CLIPS, SEED, None)
    kept, hidden, video = _features(ws, net, caption_items(ws, None), progress=False)
    tagger, _ = fit_tagger(
        hidden,
        video,
        [labels[it.clip_id] for it in kept],
        min_count=1,
        epochs=2,
        hidden_size=16,
        inputs_id=frozen_inputs_key(net),
    )
    save_tagger(tagger, ws.models_dir / "tagger")
    return ws, tagger, labels


def _tags(ws: Workspace) -> list[dict]:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return cat.query("SELECT clip_id, text, source FROM texts WHERE kind = ? ORDER BY clip_id", [TAGS_KIND])


def test_the_plan_gives_every_clip_the_attributes_its_reference_states(tagged) -> None:
    ws, _, labels = tagged
    items = caption_items(ws, None)
    assert sorted(labels) == sorted(it.clip_id for it in items) and len(labels) == N_CLIPS
    for it in items:
        nouns = [a[1] for a in labels[it.clip_id] if a[0] in ("noun", "product", "character")]
        assert nouns and any(n.replace("_", " ") in it.reference.lower() for n in nouns), (it.reference, nouns)


def test_tag_writes_one_text_per_clip_with_the_tagger_id_then_skips(tagged, capsys) -> None:
    ws, tagger, _ = tagged
    assert main(["--workspace", str(ws.root), "tag", "--batch-size", "8"]) == 0
    assert "24 done" in capsys.readouterr().out
    rows = _tags(ws)
    items = caption_items(ws, None)
    assert [r["clip_id"] for r in rows] == sorted(it.clip_id for it in items)
    assert {r["source"] for r in rows} == {tagger.model_id}
    net = load_trained_captioner(ws, "fine")
    first = next(it for it in items if it.clip_id == rows[0]["clip_id"])
    assert tag_texts(net, tagger, [load_frames(net, first)]) == [rows[0]["text"]], "the text is the tagger's"
    again = tag_catalog(ws, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, N_CLIPS, 0)
    assert _tags(ws) == rows


def test_the_description_channel_indexes_the_tags_before_the_captions(tagged) -> None:
    ws, _, _ = tagged
    tag_catalog(ws, progress=False)
    texts = {r["clip_id"]: r["text"] for r in _tags(ws)}
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        docs = channel_documents(cat, "description")
    with_tags = [d for d in docs if texts.get(d.clip_id)]
    assert with_tags, "some clip has decoded attributes"
    for d in with_tags:
        assert d.parts[0] == ("tags", " ".join(texts[d.clip_id].split()))


def test_an_unreadable_clip_is_reported_and_the_rest_tagged(tagged, tmp_path: Path) -> None:
    ws, _, _ = tagged
    with open_catalog(ws.catalog_path) as cat:
        cat.con.execute("DELETE FROM texts WHERE kind = ?", [TAGS_KIND])
        bad = cat.query("SELECT video_id, path FROM videos ORDER BY video_id LIMIT 1")[0]
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(b"not a video")
        cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [str(junk), bad["video_id"]])
    try:
        summary = tag_catalog(ws, progress=False)
    finally:
        with open_catalog(ws.catalog_path) as cat:
            cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [bad["path"], bad["video_id"]])
    n_bad = sum(1 for it in caption_items(ws, None) if it.path == bad["path"])
    assert summary.failed == n_bad >= 1 and summary.done == N_CLIPS - n_bad
    assert len(_tags(ws)) == N_CLIPS - n_bad


def test_a_tagger_of_another_captioners_inputs_or_none_is_refused(tagged, capsys) -> None:
    ws, tagger, _ = tagged
    other = ws.models_dir / "tagger-other"
    save_tagger(tagger, other)
    meta = json.loads((other / "config.json").read_text())
    meta["config"]["inputs_id"] = "0123456789ab"
    from captioner.tagger import load_tagger

    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"config\.json records"):  # the id covers the config: edited, it is refused
        load_tagger(other)
    foreign = copy.deepcopy(tagger)
    foreign.inputs_id = "0123456789ab"
    save_tagger(foreign, other)
    with pytest.raises(ValueError, match="trained on frozen inputs 0123456789ab"):
        tag_catalog(ws, model="tagger-other", progress=False)
    assert main(["--workspace", str(ws.root), "tag", "--model", "nothing-here"]) != 0
    assert "adsearch tag --install" in capsys.readouterr().err
