"""Tests of checkpoint round trips and model ids."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from retrieval import create_model, encode_clips, load_checkpoint, load_video_tower, save_checkpoint

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


def test_the_video_tower_loads_alone_with_the_same_clip_vectors(tmp_path):
    """``load_video_tower`` reads only the ``visual.*`` tensors and builds no text tower, and embeds clips exactly
    as the whole model does; a tower whose weights changed, or another model id, is refused."""
    model = create_model(shrink("tiny")).eval()
    with torch.no_grad():
        model.visual.temporal_embedding.weight.normal_()
    model_id = save_checkpoint(model, tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert len(meta["visual_digest"]) == 12
    tower = load_video_tower(tmp_path, model_id=model_id).eval()
    assert not hasattr(tower, "text") and all(k.startswith("visual.") for k in tower.state_dict())
    frames = torch.randint(0, 256, (3, model.config.vision.num_frames, *model.config.vision.image_hw, 3))
    _, expected = encode_clips(model, list(enumerate(frames.numpy().astype("uint8"))), batch_size=3)
    _, got = encode_clips(tower, list(enumerate(frames.numpy().astype("uint8"))), batch_size=3)
    assert got.shape == expected.shape and (got == expected).all()

    with pytest.raises(ValueError, match="not tiny-000000000000"):
        load_video_tower(tmp_path, model_id="tiny-000000000000")
    _nudge_stored_tower(tmp_path)
    with pytest.raises(ValueError, match="video tower hashes to"):
        load_video_tower(tmp_path, model_id=model_id)


def test_a_checkpoint_without_a_tower_digest_loads_its_tower_through_the_whole_model(tmp_path):
    """Checkpoints written before ``visual_digest`` existed: the tower comes from ``load_checkpoint``, whose
    whole-model check still refuses changed weights."""
    model = create_model(shrink("tiny")).eval()
    model_id = save_checkpoint(model, tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    del meta["visual_digest"]
    (tmp_path / "config.json").write_text(json.dumps(meta))
    tower = load_video_tower(tmp_path, model_id=model_id).eval()
    frames = torch.randn(2, model.config.vision.num_frames, 3, *model.config.vision.image_hw)
    with torch.no_grad():
        torch.testing.assert_close(tower.encode_video(frames), model.encode_video(frames), rtol=0, atol=0)
    _nudge_stored_tower(tmp_path)
    with pytest.raises(ValueError, match="does not match"):
        load_video_tower(tmp_path, model_id=model_id)


def test_the_ray_actor_loader_reads_the_tower_and_refuses_a_checkpoint_replaced_during_the_run(tmp_path):
    """``indexer.embed.CheckpointEncoder`` (what a Ray model actor calls): the video tower alone, vectors equal to
    the whole model's; a checkpoint saved again with other weights since the run chose it is refused."""
    from indexer.embed import CheckpointEncoder

    model = create_model(shrink("tiny")).eval()
    model_id = save_checkpoint(model, tmp_path)
    encoder = CheckpointEncoder(str(tmp_path), model_id)()
    assert not hasattr(encoder.model, "text")
    frames = list(
        torch.randint(0, 256, (2, model.config.vision.num_frames, *model.config.vision.image_hw, 3))
        .numpy()
        .astype("uint8")
    )
    _, expected = encode_clips(model, list(enumerate(frames)), batch_size=2)
    assert (encoder(frames) == expected).all()
    with torch.no_grad():
        model.visual.proj.add_(1e-3)
    save_checkpoint(model, tmp_path)
    with pytest.raises(ValueError, match=f"not {model_id}"):
        CheckpointEncoder(str(tmp_path), model_id)()


def _nudge_stored_tower(directory) -> None:
    """Change one video-tower tensor in a checkpoint's file, leaving its config.json as it was."""
    state = load_file(str(directory / "model.safetensors"))
    state["visual.proj"] = state["visual.proj"] + 1e-3
    save_file(state, str(directory / "model.safetensors"))
