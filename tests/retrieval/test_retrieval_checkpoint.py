"""Tests of checkpoint round trips and model ids."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from retrieval import create_model, load_checkpoint, save_checkpoint

from .retrieval_helpers import open_clip_text_config, shrink


@pytest.mark.parametrize("kind", ["open_clip", "minilm", "vertical", "conv_stem"])
def test_round_trip_gives_the_same_embeddings(tmp_path, kind):
    if kind in ("vertical", "conv_stem"):
        stem = "conv" if kind == "conv_stem" else "patch"
        cfg = open_clip_text_config(vision={"image_size": [40, 24], "stem": stem})
    else:
        cfg = shrink("tiny") if kind == "minilm" else open_clip_text_config()
    model = create_model(cfg).eval()
    with torch.no_grad():
        model.visual.temporal_embedding.weight.normal_()  # non-default values must survive too
    if kind == "conv_stem":  # BatchNorm running statistics are buffers and must survive as well
        model.train()
        with torch.no_grad():
            model.encode_video(torch.randn(2, cfg.vision.num_frames, 3, *cfg.vision.image_hw) + 1.0)
        model.eval()
        assert model.visual.conv1[1].num_batches_tracked.item() == 1
    model_id = save_checkpoint(model, tmp_path)
    assert model_id == model.model_id and model_id.startswith(cfg.name + "-")
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["model_id"] == model_id and meta["config"]["vision"]["num_frames"] == cfg.vision.num_frames
    size = cfg.vision.image_size
    assert meta["config"]["vision"]["image_size"] == (
        list(size) if isinstance(size, tuple) else size
    )  # (H, W) as a list
    loaded = load_checkpoint(tmp_path).eval()
    assert loaded.config == cfg and loaded.model_id == model_id
    assert loaded.config.vision.image_hw == cfg.vision.image_hw
    frames = torch.randn(2, cfg.vision.num_frames, 3, *cfg.vision.image_hw)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_video(frames), model.encode_video(frames), rtol=0, atol=0)
        torch.testing.assert_close(loaded.encode_text(["a cat"]), model.encode_text(["a cat"]), rtol=0, atol=0)


def test_model_id_tracks_the_weights(tmp_path):
    model = create_model(open_clip_text_config())
    first = model.model_id
    assert model.model_id == first
    with torch.no_grad():
        model.visual.proj.add_(1e-3)
    assert model.model_id != first


def test_tampered_or_missing_checkpoints_raise(tmp_path):
    model = create_model(open_clip_text_config())
    save_checkpoint(model, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["logit_scale"] = state["logit_scale"] + 1
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_checkpoint(tmp_path / "elsewhere")


def test_a_frozen_packaged_backbone_is_not_stored_but_checked(tmp_path):
    """A frozen MiniLM loads from its package: the file is ~90 MB smaller, and loading still checks the whole model."""
    model = create_model(shrink("tiny"))
    assert model.text.frozen
    save_checkpoint(model, tmp_path)
    stored = load_file(str(tmp_path / "model.safetensors"))
    assert stored and not any(k.startswith("text.backbone.") for k in stored)
    assert any(k.startswith("text.backbone.") for k in model.state_dict())
    assert load_checkpoint(tmp_path).model_id == model.model_id
    # An old checkpoint that stored the backbone still loads.
    whole = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    save_file(whole, str(tmp_path / "model.safetensors"))
    assert load_checkpoint(tmp_path).model_id == model.model_id
    # A stored tensor the model lacks is refused.
    save_file({**stored, "visual.extra": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="unexpected"):
        load_checkpoint(tmp_path)
