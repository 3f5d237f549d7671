"""Training smoke test on synthetic moving shapes, checkpointing every epoch, and resume."""

from __future__ import annotations

import json

import pytest
import torch

from retrieval import TrainConfig, create_model, evaluate_retrieval, train_retriever
from retrieval.train import STATE_NAME

from .retrieval_helpers import open_clip_text_config, shrink, synthetic_items, synthetic_loader

_TOY_VISION = {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "heads": 2, "num_frames": 4,
               "temporal_size": 4}  # fmt: skip


def _smoke_model():
    # The tiny config's code path (proxies, temporal embedding, frozen MiniLM + projection) at toy size.
    return create_model(shrink("tiny", embed_dim=64, vision=_TOY_VISION))


def _fast_model():
    # Same video path with a small frozen open_clip text tower: nothing to load, little to optimise.
    return create_model(open_clip_text_config(vision=_TOY_VISION, text={"freeze": True}))


def test_training_lowers_loss_and_beats_chance(tmp_path):
    items = synthetic_items(8)  # 32 clips: 8 colours x 4 directions
    model = _smoke_model()
    before = evaluate_retrieval(model, items, frame_loader=synthetic_loader)["reference"]
    cfg = TrainConfig(epochs=8, batch_size=16, lr=2e-3, weight_decay=0.05, warmup_ratio=0.1, seed=0)
    result = train_retriever(model, items, eval_items=items, cfg=cfg, out_dir=tmp_path, frame_loader=synthetic_loader)

    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9)) and rows == result.history
    assert result.global_step == 8 * 2 and result.epochs_completed == 8
    assert rows[-1]["train_loss"] < 0.7 * rows[0]["train_loss"]
    after = result.final_metrics["reference"]
    chance = 100 / len(items)
    assert after["R@1"] > 3 * chance and after["R@1"] > before["R@1"]
    assert after["MnR"] < before["MnR"]
    assert set(result.final_metrics) == {"reference", "asr", "general"}
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / STATE_NAME).is_file()
    assert result.model_id == model.model_id == rows[-1]["model_id"]


class _CrashingLoader:
    """Decodes normally, then fails after ``budget`` calls: a run killed mid-epoch."""

    def __init__(self, budget: int):
        self.budget = budget

    def __call__(self, *args, **kwargs):
        self.budget -= 1
        if self.budget < 0:
            raise OSError("simulated crash")
        return synthetic_loader(*args, **kwargs)


def test_resume_continues_from_the_saved_epoch(tmp_path):
    items = synthetic_items(2)  # 8 clips
    # No frame cache, so every epoch decodes each clip once: 8 calls per epoch.
    cfg = TrainConfig(epochs=3, batch_size=4, lr=1e-3, cache_frames_in_memory=False, seed=1)

    torch.manual_seed(0)
    straight = _fast_model()
    train_retriever(straight, items, cfg=cfg, out_dir=tmp_path / "a", frame_loader=synthetic_loader)

    torch.manual_seed(0)
    crashed = _fast_model()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_retriever(crashed, items, cfg=cfg, out_dir=tmp_path / "b", frame_loader=_CrashingLoader(2 * 8 + 3))
    with pytest.raises(ValueError, match="resume=True"):
        train_retriever(crashed, items, cfg=cfg, out_dir=tmp_path / "b", frame_loader=synthetic_loader)

    torch.manual_seed(123)
    fresh = _fast_model()  # different init: resume must replace its weights
    result = train_retriever(fresh, items, cfg=cfg, out_dir=tmp_path / "b", resume=True, frame_loader=synthetic_loader)
    assert [r["epoch"] for r in result.history] == [3]
    assert result.global_step == 3 * 2
    rows = [json.loads(line) for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # Same batches, texts and optimiser state as the uninterrupted run.
    for (name, a), b in zip(straight.state_dict().items(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def _caption_texts(items, seed, **kw):
    import numpy as np

    from retrieval.train import sample_texts

    return sample_texts(items, np.random.default_rng(seed), caption_kinds=("reference",), **kw)["caption"][0]


def test_partial_views_are_ordered_proper_subsets_of_a_captions_sentences():
    from retrieval import ClipItem

    sentences = ["A woman in a yellow dress walks.", "She holds a red bag!", "Then she waves?", "The sky is blue."]
    multi = ClipItem(clip_id=1, path="a.mp4", start_s=0, end_s=1, texts={"reference": [" ".join(sentences)]})
    single = ClipItem(clip_id=2, path="a.mp4", start_s=1, end_s=2, texts={"reference": ["One sentence only."]})
    items = [multi, single] * 20

    assert set(_caption_texts(items, 0)) == {multi.texts["reference"][0], "One sentence only."}

    views = _caption_texts(items, 0, partial_caption_prob=1.0)
    assert views == _caption_texts(items, 0, partial_caption_prob=1.0)  # seeded
    assert views[1::2] == ["One sentence only."] * 20  # a single sentence stays whole
    seen = set()
    for view in views[0::2]:
        kept = [s for s in sentences if s in view]
        assert view == " ".join(kept) and 1 <= len(kept) < len(sentences)  # in order, at least one dropped
        seen.add(view)
    assert len(seen) > 3  # different subsets across clips and steps

    mixed = _caption_texts(items, 1, partial_caption_prob=0.5)[0::2]
    assert multi.texts["reference"][0] in mixed and len(set(mixed)) > 2


def test_partial_caption_prob_is_validated():
    with pytest.raises(ValueError, match="partial_caption_prob"):
        TrainConfig(partial_caption_prob=1.5)
