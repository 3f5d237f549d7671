"""`adsearch train-captioner` and `adsearch caption` on a tiny ingested catalog: checkpoints, texts written with the
model id as source, resumed runs, unreadable clips, and user errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from adsearch.captioner import caption_catalog, caption_items
from adsearch.cli import main
from adsearch.workspace import Workspace
from indexer.catalog import open_catalog
from tests.adsearch.captioner_workspace import trained_workspace

FAST = ["--batch-size", "4", "--max-new-tokens", "8"]  # a one-epoch model runs on to the cap: keep the cap short


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The tiny workspace with both captioners trained for one epoch, and each training run's printed output."""
    return trained_workspace(tmp_path_factory, "captioner-cli")


def _texts(ws: Path, kind: str) -> list[dict]:
    """Generated texts of ``kind`` (any source but the manifest's annotations), by clip id."""
    with open_catalog(Workspace(ws).catalog_path, read_only=True) as cat:
        sql = "SELECT clip_id, text, source FROM texts WHERE kind = ? AND source <> 'manifest' ORDER BY clip_id"
        return cat.query(sql, [kind])


@pytest.mark.parametrize("kind", ["fine", "general"])
def test_train_captioner_writes_a_checkpoint_and_samples(trained: tuple[Path, dict[str, str]], kind: str) -> None:
    ws, outputs = trained
    ckpt = Workspace(ws).models_dir / f"captioner-{kind}"
    assert (ckpt / "config.json").is_file() and (ckpt / "model.safetensors").is_file()
    first = outputs[kind].splitlines()[0]
    assert (
        first.startswith("train-captioner: ")
        and f"({kind}) in " in first
        and first.endswith(f"models/captioner-{kind}")
    )
    n_test = len(caption_items(Workspace(ws), ["test"]))
    assert outputs[kind].count("    generated: ") == min(3, n_test)


def test_caption_writes_one_text_per_clip_with_the_model_id_then_skips(
    trained: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = trained
    w = Workspace(ws)
    test_ids = [it.clip_id for it in caption_items(w, ["test"])]
    for kind in ("fine", "general"):
        assert main(["--workspace", str(ws), "caption", "--kind", kind, "--split", "test", *FAST]) == 0
        assert capsys.readouterr().out.strip(), "the runner's summary line is printed"
        model_id = _model_id(w, kind)
        rows = _texts(ws, kind)
        assert [r["clip_id"] for r in rows] == test_ids, "one text per test clip, none for other splits"
        assert {r["source"] for r in rows} == {model_id}
        assert all(r["text"].strip() for r in rows)
        again = caption_catalog(w, kind, split="test", max_new_tokens=8, progress=False)
        assert (again.done, again.skipped, again.failed) == (0, len(test_ids), 0)
        assert _texts(ws, kind) == rows


def _model_id(ws: Workspace, kind: str) -> str:
    import json

    return json.loads((ws.models_dir / f"captioner-{kind}" / "config.json").read_text())["model_id"]


def test_an_unreadable_clip_is_reported_and_the_rest_captioned(trained: tuple[Path, dict[str, str]]) -> None:
    ws, _ = trained
    w = Workspace(ws)
    val = caption_items(w, ["val"]) or pytest.skip("no val clips in this catalog")
    with open_catalog(w.catalog_path) as cat:  # point one val video at a file that is not a video
        bad = cat.query("SELECT video_id, path FROM videos WHERE split = 'val' ORDER BY video_id LIMIT 1")[0]
        junk = ws / "junk.mp4"
        junk.write_bytes(b"not a video")
        cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [str(junk), bad["video_id"]])
    try:
        summary = caption_catalog(w, "general", split="val", max_new_tokens=8, progress=False)
    finally:
        with open_catalog(w.catalog_path) as cat:
            cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [bad["path"], bad["video_id"]])
    n_bad = sum(1 for it in val if it.path == bad["path"])
    assert summary.failed == n_bad >= 1 and len(summary.failures) == n_bad
    assert summary.done == len(val) - n_bad
    written = {r["clip_id"] for r in _texts(ws, "general")}
    assert {it.clip_id for it in val if it.path != bad["path"]} <= written
    assert not {it.clip_id for it in val if it.path == bad["path"]} & written


def test_user_errors_name_the_command_to_run(
    trained: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = trained
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "run `adsearch train-captioner --kind fine --model nope` first" in err and "Traceback" not in err
    assert main(["--workspace", str(ws), "train-captioner", "--kind", "fine", "--retriever", "nope"]) == 2
    assert "run `adsearch train-retriever` first" in capsys.readouterr().err
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--beams", "0"]) == 2
    assert "--beams must be >= 1" in capsys.readouterr().err
    assert main(["--workspace", str(tmp_path), "caption", "--kind", "general"]) == 2
    assert "run `adsearch train-captioner --kind general` first" in capsys.readouterr().err


def test_fine_captioner_reads_the_retrievers_embeddings_and_refuses_another_retriever(
    trained: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from retrieval import create_model, load_checkpoint, save_checkpoint
    from tests.retrieval.retrieval_helpers import open_clip_text_config

    ws, _ = trained
    w = Workspace(ws)
    meta = json.loads((w.models_dir / "captioner-fine" / "config.json").read_text())
    retriever_id = load_checkpoint(w.models_dir / "retriever-tiny").model_id
    assert meta["video_embedder"] == retriever_id and meta["config"]["video_prefix_tokens"] > 0
    assert json.loads((w.models_dir / "captioner-general" / "config.json").read_text())["video_embedder"] is None

    other = create_model(open_clip_text_config(vision={"num_frames": 4}))  # a retrained retriever: new weights
    save_checkpoint(other, w.models_dir / "retriever-other")
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--retriever", "retriever-other", *FAST]) == 2
    err = capsys.readouterr().err
    assert f"trained on the video embeddings of {retriever_id}" in err
    assert "`adsearch train-captioner --kind fine`" in err
    assert "Traceback" not in err


def test_fine_captions_are_the_candidates_the_retriever_scores_highest(
    trained: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import torch

    from adsearch.captioner import load_trained_captioner
    from captioner import generate_candidates, generate_captions, load_frames
    from retrieval import load_checkpoint

    ws, _ = trained
    w = Workspace(ws)
    net = load_trained_captioner(w, "fine")
    retriever = load_checkpoint(w.models_dir / "retriever-tiny")
    assert net.config.rerank_samples > 0 and net.caption_scorer.model_id == retriever.model_id
    assert load_trained_captioner(w, "general").caption_scorer is None
    frames = np.stack([load_frames(net, it) for it in caption_items(w, ["test"])])
    candidates = generate_candidates(net, frames, samples=4, seed=3, temperature=1.5, max_new_tokens=8)
    chosen = generate_captions(net, frames, samples=4, seed=3, temperature=1.5, max_new_tokens=8)
    with torch.no_grad():
        video = retriever.encode_video(retriever.preprocess(frames))
        for i, cands in enumerate(candidates):
            cosine = (retriever.encode_text(cands) @ video[i]).numpy()
            assert chosen[i] == cands[int(np.argmax(cosine))]
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--samples", "-1"]) == 2
    assert "--samples must be >= 0" in capsys.readouterr().err


def test_overwrite_recaptions_with_other_decoding_settings_in_place(
    trained: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from adsearch.captioner import load_trained_captioner
    from captioner import generate_captions, load_frames

    ws, _ = trained
    w = Workspace(ws)
    items = caption_items(w, ["test"])
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--samples", "3", *FAST]) == 0
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--samples", "0", *FAST]) == 0
    assert f"0 done, {len(items)} skipped" in capsys.readouterr().out, "without --overwrite, done clips are skipped"
    assert main(["--workspace", str(ws), "caption", "--kind", "fine", "--samples", "0", "--overwrite", *FAST]) == 0
    assert f"{len(items)} done, 0 skipped" in capsys.readouterr().out
    net = load_trained_captioner(w, "fine")
    greedy = generate_captions(net, [load_frames(net, it) for it in items], samples=0, max_new_tokens=8)
    rows = _texts(ws, "fine")
    assert [r["clip_id"] for r in rows] == [it.clip_id for it in items], "replaced in place, one row per clip"
    assert [r["text"] for r in rows] == greedy


def test_reranking_encodes_each_batch_of_clips_once_with_the_retriever(
    trained: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The video prefix and the caption scorer read the same retriever embedding of a batch: computed once."""
    import numpy as np

    from adsearch.captioner import load_trained_captioner
    from captioner import generate_captions, load_frames
    from retrieval.model import VideoTextRetriever

    ws, _ = trained
    w = Workspace(ws)
    net = load_trained_captioner(w, "fine")
    frames = np.stack([load_frames(net, it) for it in caption_items(w, ["test"])])
    expected = generate_captions(net, frames, samples=3, max_new_tokens=8)
    calls: list[int] = []
    original = VideoTextRetriever.encode_video

    def counted(self, x, **kwargs):
        calls.append(x.shape[0])
        return original(self, x, **kwargs)

    monkeypatch.setattr(VideoTextRetriever, "encode_video", counted)
    assert generate_captions(net, frames, samples=3, max_new_tokens=8) == expected
    assert calls == [len(frames)], "one retriever pass per batch, shared by the prefix and the scorer"
    assert generate_captions(net, frames.copy(), samples=3, max_new_tokens=8) == expected
    assert calls == [len(frames)] * 2, "the next batch is encoded anew, once"
