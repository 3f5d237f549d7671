"""Forward/backward over every registered config (shrunk), heads, text towers, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval import contrastive_loss, create_model, get_model_config, list_models, preprocess_frames
from retrieval.config import OPENAI_MEAN

from .retrieval_helpers import open_clip_text_config, shrink


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_every_config(name):
    cfg = shrink(name)
    model = create_model(cfg)
    v = cfg.vision
    frames = torch.randn(3, v.num_frames, 3, *v.image_hw)
    if get_model_config(name).vision.image_hw[0] != get_model_config(name).vision.image_hw[1]:
        assert v.image_hw[0] != v.image_hw[1], "a non-square config must stay non-square when shrunk"
    texts = ["a red square moving left", "a woman plays the erhu", "a blue car"]
    video, text = model(frames, texts)
    assert video.shape == text.shape == (3, cfg.embed_dim)
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(3))
    loss = contrastive_loss(video, text, model.logit_scale)
    loss.backward()
    assert torch.isfinite(loss)
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), "every trainable param needs a grad"
    stem_grads = [g for n, g in grads.items() if n.startswith("visual.conv1.")]
    assert stem_grads and all(g.abs().sum() > 0 for g in stem_grads) and grads["logit_scale"].abs() > 0
    if v.head == "proxy":
        assert grads["visual.video_proxy.tokens"].abs().sum() > 0
        assert grads["visual.temporal_embedding.weight"].abs().sum() > 0
        assert not model.visual.class_embedding.requires_grad  # replaced by the proxies in this head
    if cfg.text.tower == "sentence_transformers":
        assert cfg.text.freeze and not any(p.requires_grad for p in model.text.backbone.parameters())
        assert grads["text.proj.weight"].abs().sum() > 0


@pytest.mark.parametrize("patch_size", [8, 16])
def test_conv_stem_gives_the_patch_grid_and_learns_batch_statistics(patch_size):
    cfg = open_clip_text_config(
        vision={
            "image_size": [5 * patch_size, 3 * patch_size],
            "patch_size": patch_size,
            "stem": "conv",
            "num_frames": 2,
        }
    )
    model = create_model(cfg)
    stem = model.visual.conv1
    assert isinstance(stem, torch.nn.Sequential) and stem[-1].out_channels == cfg.vision.width
    assert sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in stem) == patch_size.bit_length() - 1
    frames = torch.randn(2, 2, 3, 5 * patch_size, 3 * patch_size)
    assert stem(frames.flatten(0, 1)).shape == (4, cfg.vision.width, 5, 3)  # same grid as a patchify conv
    model.train()
    before = stem[1].running_mean.clone()
    model.encode_video(frames).sum().backward()
    assert not torch.equal(stem[1].running_mean, before)  # BatchNorm statistics move in training mode only
    model.eval()
    with torch.no_grad():
        a = model.encode_video(frames[:1])
        b = model.encode_video(frames)[:1]
    torch.testing.assert_close(a, b)  # eval mode: a clip's embedding does not depend on its batch


def test_conv_stem_rejects_a_patch_size_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power-of-two"):
        create_model(open_clip_text_config(vision={"image_size": 36, "patch_size": 12, "stem": "conv"}))
    with pytest.raises(ValueError, match=r"vision\.stem"):
        open_clip_text_config(vision={"stem": "hybrid"})


def test_non_square_frames_make_a_non_square_patch_grid():
    model = create_model(open_clip_text_config(vision={"image_size": [40, 24], "num_frames": 3, "num_proxies": 2}))
    v = model.config.vision
    assert v.image_hw == (40, 24) and v.grid_hw == (5, 3) and v.num_patches == 15
    assert tuple(model.visual.grid_size) == (5, 3)
    assert model.visual.positional_embedding.shape == (1 + 15, 64)
    frames = torch.randn(2, 3, 3, 40, 24)
    x, mask = model.visual.video_tokens(frames)
    assert x.shape == (2, 2 + 3 * 15, 64) and mask.shape == (2 + 3 * 15, 2 + 3 * 15)
    video = model.encode_video(frames)
    assert video.shape == (2, 32)
    video.sum().backward()
    assert model.visual.positional_embedding.grad[1:].abs().sum(dim=1).gt(0).all()  # every grid position is used
    with pytest.raises(ValueError, match=r"\(B, T, 3, 40, 24\)"):
        model.encode_video(torch.randn(2, 3, 3, 24, 40))  # transposed frames are rejected


def test_frame_count_other_than_temporal_slots():
    model = create_model(open_clip_text_config(vision={"temporal_size": 12, "num_frames": 5})).eval()
    with torch.no_grad():
        assert model.encode_video(torch.randn(2, 5, 3, 32, 32)).shape == (2, 32)
        assert model.encode_video(torch.randn(2, 1, 3, 32, 32)).shape == (2, 32)


def test_meanp_ignores_frame_order_but_proxy_head_does_not():
    frames = torch.randn(2, 4, 3, 32, 32)
    reversed_frames = frames.flip(1)
    meanp = create_model(open_clip_text_config(vision={"head": "meanp"})).eval()
    proxy = create_model(open_clip_text_config()).eval()
    with torch.no_grad():
        proxy.visual.temporal_embedding.weight.normal_()
        torch.testing.assert_close(meanp.encode_video(frames), meanp.encode_video(reversed_frames))
        assert not torch.allclose(proxy.encode_video(frames), proxy.encode_video(reversed_frames), atol=1e-4)
    assert not hasattr(meanp.visual, "video_proxy")


def test_encode_video_rejects_bad_input():
    model = create_model(open_clip_text_config())
    with pytest.raises(ValueError, match="preprocess"):
        model.encode_video(torch.zeros(1, 3, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, T, 3, 32, 32\)"):
        model.encode_video(torch.zeros(1, 3, 3, 48, 48))
    with pytest.raises(ValueError, match="list of strings"):
        model.encode_text("a bare string")


def test_open_clip_tower_truncates_long_queries():
    model = create_model(open_clip_text_config(text={"context_length": 16})).eval()
    head = "a woman in a pink cheongsam with a ponytail plays the erhu on a stage " * 2
    with torch.no_grad():
        a, b = model.encode_text([head + "then a red car", head + "then a blue boat"])
        short = model.encode_text(["a woman", "a boat"])
    torch.testing.assert_close(a, b)  # only the part beyond the context differs
    assert not torch.allclose(short[0], short[1])


def test_sentence_transformer_tower_truncates_and_caches():
    model = create_model(shrink("tiny", text={"max_seq_length": 12})).eval()
    head = "a woman in a pink cheongsam with a ponytail plays the erhu on a stage "
    with torch.no_grad():
        a, b = model.encode_text([head + "then a red car", head + "then a blue boat"])
        torch.testing.assert_close(a, b)
        assert len(model.text._cache) == 2
        c = model.encode_text([head + "then a red car"])  # served from the cache
    torch.testing.assert_close(c[0], a)


def test_preprocess_frames_normalises_and_resizes():
    mean_pixel = np.round(np.array(OPENAI_MEAN) * 255).astype(np.uint8)
    frames = np.broadcast_to(mean_pixel, (4, 32, 32, 3)).copy()
    x = preprocess_frames(frames)
    assert x.shape == (1, 4, 3, 32, 32) and x.dtype == torch.float32
    assert x.abs().max() < 0.01  # the CLIP mean maps to ~0
    white = preprocess_frames(np.full((2, 1, 48, 64, 3), 255, np.uint8), image_size=32)
    assert white.shape == (2, 1, 3, 32, 32)
    torch.testing.assert_close(
        white[0, 0, :, 5, 5], (1 - torch.tensor(OPENAI_MEAN)) / torch.tensor([0.26862954, 0.26130258, 0.27577711])
    )
    with pytest.raises(ValueError, match="uint8"):
        preprocess_frames(np.zeros((1, 2, 8, 8, 3), np.float32))


def test_preprocess_frames_covers_a_non_square_size_and_crops_the_centre():
    # A 3:2 landscape frame to a 2:1 portrait target: scale so the height fits (32 -> 40), crop the width centre.
    frames = np.zeros((1, 1, 32, 48, 3), np.uint8)
    frames[..., 20:28, :] = 255  # a white vertical band, columns 20..28 of 48
    x = preprocess_frames(frames, image_size=(40, 20), mean=(0, 0, 0), std=(1, 1, 1))
    assert x.shape == (1, 1, 3, 40, 20)
    assert x[0, 0, :, :, 6:14].min() > 0.99  # scaled to 25..35 of 60 px, crop starts at 20
    assert x[0, 0, :, :, :2].max() < 0.01 and x[0, 0, :, :, -2:].max() < 0.01
