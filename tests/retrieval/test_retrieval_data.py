"""Tests of ClipDataset (injected and default frame loaders, caches) and the encoding API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval import ClipDataset, ClipItem, create_model, encode_clips, encode_queries

from .retrieval_helpers import open_clip_text_config, synthetic_items, synthetic_loader


class CountingLoader:
    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return synthetic_loader(*args, **kwargs)


def test_memory_cache_decodes_once():
    items = synthetic_items(1)
    loader = CountingLoader()
    ds = ClipDataset(items, n_frames=4, image_size=16, frame_loader=loader, cache_in_memory=True)
    for _ in range(3):
        sample = ds[2]
    assert loader.calls == 1
    assert sample["frames"].shape == (4, 16, 16, 3) and sample["frames"].dtype == torch.uint8
    assert sample["clip_id"] == items[2].clip_id


def test_disk_cache_is_reused_by_a_new_dataset(tmp_path):
    items = synthetic_items(1)
    first = ClipDataset(items, n_frames=4, image_size=16, frame_loader=synthetic_loader, cache_dir=tmp_path)
    expected = [first.load_frames(i) for i in range(len(items))]
    assert len(list(tmp_path.glob("*.npy"))) == len(items)

    def broken(*args, **kwargs):
        raise AssertionError("must not decode again")

    second = ClipDataset(items, n_frames=4, image_size=16, frame_loader=broken, cache_dir=tmp_path)
    for i, frames in enumerate(expected):
        np.testing.assert_array_equal(second.load_frames(i), frames)
    # Another frame count is another cache entry, so it decodes.
    with pytest.raises(RuntimeError, match=f"clip {items[0].clip_id}"):
        ClipDataset(items, n_frames=5, image_size=16, frame_loader=broken, cache_dir=tmp_path).load_frames(0)


def test_loader_output_is_validated():
    items = synthetic_items(1)[:1]
    ds = ClipDataset(items, n_frames=4, image_size=16, frame_loader=lambda *a, **k: np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="expected uint8"):
        ds[0]


def test_default_loader_reads_real_video(tmp_path):
    from media import write_video

    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    ds = ClipDataset([ClipItem(clip_id=1, path=str(path), start_s=0.0, end_s=1.0)], n_frames=4, image_size=32)
    out = ds.load_frames(0)
    assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
    assert out[0].mean() < out[-1].mean()  # later frames are brighter: frames come in time order


def _vertical_video(tmp_path):
    from media import write_video

    # 64x112 (W x H) 9:16 clip: a red top band (HUD), a blue bottom band (price badge), grey in between.
    frames = []
    for i in range(10):
        f = np.full((112, 64, 3), 100 + 10 * i, np.uint8)
        f[:16] = (220, 30, 30)
        f[-16:] = (30, 30, 220)
        frames.append(f)
    return write_video(tmp_path / "vertical.mp4", frames, fps=10)


def test_non_square_size_keeps_the_whole_vertical_frame(tmp_path):
    item = ClipItem(clip_id=7, path=str(_vertical_video(tmp_path)), start_s=0.0, end_s=1.0)
    ds = ClipDataset([item], n_frames=4, image_size=(56, 32), cache_dir=tmp_path / "cache")
    out = ds[0]["frames"].numpy()
    assert out.shape == (4, 56, 32, 3) and out.dtype == np.uint8
    top, bottom = out[:, :6].astype(int), out[:, -6:].astype(int)
    assert (top[..., 0] - top[..., 2]).min() > 100  # the red HUD band is there
    assert (bottom[..., 2] - bottom[..., 0]).min() > 100  # and so is the blue badge band
    assert out[0, 28].mean() < out[-1, 28].mean()  # time order
    # Square crop of the same clip drops both bands; its cache entry is kept apart from the (56, 32) one.
    square = ClipDataset([item], n_frames=4, image_size=32, cache_dir=tmp_path / "cache").load_frames(0)
    assert square.shape == (4, 32, 32, 3)
    assert np.abs(square[..., 0].astype(int) - square[..., 2].astype(int)).max() < 40
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    again = ClipDataset([item], n_frames=4, image_size=[56, 32], frame_loader=_broken, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.load_frames(0), out)  # a list size finds the same cache entry


def test_preload_decodes_video_by_video_and_gives_the_frames_of_clip_by_clip_loading(tmp_path):
    from media import write_video

    # 60 frames with a long GOP: the later clips would each decode from the key frame when loaded alone
    frames = [np.full((64, 48, 3), 4 * i, np.uint8) for i in range(60)]
    path = str(write_video(tmp_path / "long.mp4", frames, fps=10))
    ranges = [(4.0, 6.0), (0.0, 1.5), (1.5, 4.0), (3.0, 5.0)]  # out of order and overlapping
    items = [ClipItem(clip_id=i, path=path, start_s=a, end_s=b) for i, (a, b) in enumerate(ranges)]
    items.append(ClipItem(clip_id=9, path=str(tmp_path / "missing.mp4"), start_s=0.0, end_s=1.0))
    alone = ClipDataset(items[:4], n_frames=4, image_size=(32, 24))
    expected = [alone.load_frames(i) for i in range(4)]
    ds = ClipDataset(items[:4], n_frames=4, image_size=(32, 24), cache_dir=tmp_path / "cache")
    ds.preload()
    for i in range(4):
        np.testing.assert_array_equal(ds.load_frames(i), expected[i])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 4  # written to the disk cache too
    with pytest.raises(RuntimeError, match="clip 9"):  # a clip that cannot be read is named
        ClipDataset(items, n_frames=4, image_size=(32, 24)).preload()


def _broken(*args, **kwargs):
    raise AssertionError("must be served from the cache")


def test_encode_clips_items_and_pairs_agree():
    model = create_model(open_clip_text_config(vision={"num_frames": 4}))
    items = synthetic_items(1)
    ids, vecs = encode_clips(model, items, batch_size=3, frame_loader=synthetic_loader)
    pairs = ((it.clip_id, synthetic_loader(it.path, 0.0, 2.0, n=4, size=32, mode="crop")) for it in items)
    ids2, vecs2 = encode_clips(model, pairs, batch_size=2)
    assert ids.dtype == np.int64 and vecs.dtype == np.float32 and vecs.shape == (4, 32)
    np.testing.assert_array_equal(ids, [it.clip_id for it in items])
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(vecs, vecs2, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert model.training  # mode restored
    empty_ids, empty = encode_clips(model, [])
    assert empty_ids.shape == (0,) and empty.shape == (0, 32)


def test_encode_clips_with_worker_processes_matches_in_process():
    model = create_model(open_clip_text_config(vision={"num_frames": 4}))
    items = synthetic_items(1)
    ids, vecs = encode_clips(model, items, batch_size=2, frame_loader=synthetic_loader)
    ids_w, vecs_w = encode_clips(model, items, batch_size=2, frame_loader=synthetic_loader, num_workers=1)
    np.testing.assert_array_equal(ids, ids_w)
    np.testing.assert_allclose(vecs, vecs_w, atol=1e-6)


def test_encode_queries_matches_encode_text():
    model = create_model(open_clip_text_config()).eval()
    texts = [f"query {i}" for i in range(5)]
    out = encode_queries(model, texts, batch_size=2)
    assert out.dtype == np.float32 and out.shape == (5, 32)
    with torch.no_grad():
        np.testing.assert_allclose(out, model.encode_text(texts).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="single string"):
        encode_queries(model, "one query")
