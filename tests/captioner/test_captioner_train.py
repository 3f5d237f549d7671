"""Training on real tiny videos, generation and checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from captioner import CaptionTrainConfig, generate_captions, load_captioner, load_frames, train_captioner
from tests.captioner.captioner_helpers import colour_embedder, small_captioner, write_clips


def _config(epochs: int, cache_dir=None) -> CaptionTrainConfig:
    return CaptionTrainConfig(
        epochs=epochs, batch_size=8, lr=3e-3, lr_qformer=3e-3, warmup_steps=2, cache_dir=cache_dir and str(cache_dir)
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"), n_colours=2)


@pytest.fixture(scope="module")
def trained(clips, tmp_path_factory):
    """A test-size fine captioner trained on the real clips plus one corrupt file (skipped)."""
    root = tmp_path_factory.mktemp("fine")
    bad = root / "corrupt.mp4"
    bad.write_bytes(b"not a video")
    items = [*clips, clips[0].__class__(clip_id=999, path=str(bad), start_s=0.0, end_s=1.0, reference="a clip")]
    torch.manual_seed(0)
    model = small_captioner("tiny-fine")
    result = train_captioner(model, items, _config(4, root / "c"), root / "ckpt")
    return model, result, root


def test_training_loss_falls_and_checkpoint_is_written(trained):
    model, result, root = trained
    losses = [row["loss"] for row in result.log]
    assert len(losses) == 4 and losses[-1] < 0.85 * losses[0]
    assert all(row["lk"] > 0 and row["ld"] > 0 for row in result.log)  # both tasks trained
    meta = json.loads((root / "ckpt" / "config.json").read_text())
    assert meta["model_id"] == result.model_id == model.model_id
    assert result.model_id.startswith("tiny-fine-")
    assert len(list((root / "c").iterdir())) == 8  # the corrupt clip was skipped, the 8 real ones cached


def test_greedy_is_deterministic_and_checkpoint_round_trip_is_identical(trained, clips):
    model, _, root = trained
    frames = np.stack([load_frames(model, it) for it in clips[:4]])
    assert frames.shape == (4, 4, 32, 32, 3) and frames.dtype == np.uint8
    first = generate_captions(model, frames)
    assert first == generate_captions(model, list(frames))
    assert len(first) == 4 and all(isinstance(c, str) for c in first)
    loaded = load_captioner(root / "ckpt")
    assert loaded.model_id == model.model_id and loaded.kind == "fine" and loaded.num_frames == 4
    assert loaded.video_embedder_id == "colour-embedder-0" and loaded.video_embedder is None
    with pytest.raises(RuntimeError, match="attach_video_embedder"):
        generate_captions(loaded, frames)
    loaded.attach_video_embedder(colour_embedder())
    assert generate_captions(loaded, frames) == first
    beams = generate_captions(loaded, frames, num_beams=3, max_new_tokens=6)
    assert len(beams) == 4 and all(len(loaded.encode_text(c)) <= 6 for c in beams)


def test_resume_continues_from_saved_epoch(trained, clips, tmp_path):
    model, result, root = trained
    resumed = train_captioner(model, clips, _config(5, root / "c"), root / "ckpt", resume=True)
    assert [row["epoch"] for row in resumed.log] == [1, 2, 3, 4, 5]
    assert resumed.log[:4] == result.log and resumed.model_id != result.model_id


def test_general_captioner_trains_on_middle_frame(clips, tmp_path):
    model = small_captioner("tiny-general")
    assert model.kind == "general" and model.num_frames == 1 and model.align.aux is None
    assert load_frames(model, clips[0]).shape == (1, 32, 32, 3)
    result = train_captioner(model, clips, _config(2), tmp_path / "general")
    assert result.log[-1]["loss"] < result.log[0]["loss"] and result.log[0]["lk"] == 0
    assert len(generate_captions(model, np.stack([load_frames(model, clips[0])]))) == 1


def test_no_examples_is_a_clear_error(clips, tmp_path):
    model = small_captioner("tiny-general")
    bare = [clips[0].__class__(clip_id=1, path=clips[0].path, start_s=0.0, end_s=1.0)]
    with pytest.raises(ValueError, match="no training examples"):
        train_captioner(model, bare, CaptionTrainConfig(epochs=1), tmp_path / "x")


def test_task_losses_are_token_means_over_the_batch():
    from captioner.train import _weighted_mean

    losses = torch.tensor([1.0, 4.0, 2.0, 8.0])  # per-example token means
    tokens = torch.tensor([60.0, 5.0, 2.0, 1.0])  # target lengths (+ EOS)
    desc = torch.tensor([True, True, False, False])
    assert torch.isclose(_weighted_mean(losses, tokens, desc), torch.tensor((60 * 1.0 + 5 * 4.0) / 65))
    assert torch.isclose(_weighted_mean(losses, tokens, ~desc), torch.tensor((2 * 2.0 + 8.0) / 3))
    assert _weighted_mean(losses, tokens, torch.zeros(4, dtype=torch.bool)) == 0
