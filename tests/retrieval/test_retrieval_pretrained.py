"""Loading open_clip weights into the video model: equivalence with open_clip, interpolation, strictness."""

from __future__ import annotations

import math

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, resize_pos_embed
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file

from retrieval import create_model, load_pretrained, load_weights, save_checkpoint
from retrieval.pretrained import resize_grid_pos_embed

from .retrieval_helpers import open_clip_text_config

TEXT_CFG = CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2)


def _open_clip_model(image_size: int = 32) -> CLIP:
    vision = CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=image_size)
    clip = CLIP(embed_dim=32, vision_cfg=vision, text_cfg=TEXT_CFG, quick_gelu=True).eval()
    with torch.no_grad():  # open_clip leaves some vision params at init values; randomise everything that matters
        for name, p in clip.visual.named_parameters():
            if "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    return clip


def _our_config(**vision):
    return open_clip_text_config(
        quick_gelu=True,
        vision={"image_size": 32, "num_frames": 1, "num_proxies": 1, "temporal_size": 4, **vision},
        text={"width": 64, "heads": 2, "layers": 2},
    )


def _save(clip: CLIP, path) -> str:
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(path))
    return str(path)


def test_t1_video_embedding_equals_open_clip_image_embedding(tmp_path):
    clip = _open_clip_model()
    model = create_model(_our_config(), pretrained=_save(clip, tmp_path / "open_clip.safetensors")).eval()
    images = torch.randn(3, 3, 32, 32)
    texts = ["a red square", "a woman plays the erhu", "buy now"]
    with torch.no_grad():
        ours = model.encode_video(images[:, None])  # T = 1, one proxy = the CLS token
        theirs = clip.encode_image(images, normalize=True)
        ours_t = model.encode_text(texts)
        theirs_t = clip.encode_text(SimpleTokenizer()(texts), normalize=True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours_t, theirs_t, rtol=0, atol=1e-5)
    assert model.logit_scale.item() == pytest.approx(math.log(100))  # CLIP's temperature is not taken


def test_load_report_interpolation_and_proxy_init(tmp_path):
    clip = _open_clip_model(image_size=32)
    state = clip.state_dict()
    model = create_model(_our_config(image_size=48, num_proxies=4, num_frames=3))
    report = load_weights(model, state, source="test")
    assert "visual.positional_embedding" in report.resized
    assert set(report.initialised) == {"visual.video_proxy.tokens", "visual.temporal_embedding.weight"}
    assert "logit_scale" in report.ignored and not report.missing and not report.unexpected
    assert model.visual.positional_embedding.shape == (37, 64)
    # The CLS position is kept as is, the grid is resized.
    torch.testing.assert_close(model.visual.positional_embedding[0], state["visual.positional_embedding"][0])
    proxies = model.visual.video_proxy.tokens.detach()
    torch.testing.assert_close(proxies[0], state["visual.class_embedding"])
    assert (proxies[1:] - state["visual.class_embedding"]).abs().max() < 0.2
    assert torch.count_nonzero(model.visual.temporal_embedding.weight) == 0
    with torch.no_grad():
        assert torch.isfinite(model.encode_video(torch.randn(1, 3, 3, 48, 48))).all()


def test_sentence_transformer_model_takes_only_the_vision_weights():
    clip = _open_clip_model()
    model = create_model(open_clip_text_config(vision={"num_frames": 1}, text={"tower": "sentence_transformers"}))
    report = load_weights(model, {"module." + k: v for k, v in clip.state_dict().items()})  # DDP prefix stripped
    assert any(k.startswith("text.transformer.") for k in report.ignored)
    text_keys = {k for k in model.state_dict() if k.startswith("text.")}
    assert set(report.kept) == text_keys | {"logit_scale"}  # MiniLM + projection as built
    torch.testing.assert_close(model.visual.conv1.weight, clip.visual.conv1.weight)


def test_strict_loading_reports_what_does_not_fit():
    clip = _open_clip_model()
    state = dict(clip.state_dict())
    state["visual.extra_head.weight"] = torch.zeros(3)
    del state["visual.ln_post.bias"]
    model = create_model(_our_config())
    expected = r"missing=\['visual\.ln_post\.bias'\].*unexpected=\['visual\.extra_head\.weight'\]"
    with pytest.raises(ValueError, match=expected):
        load_weights(model, state)
    report = load_weights(model, state, strict=False)
    assert report.missing == ["visual.ln_post.bias"] and report.unexpected == ["visual.extra_head.weight"]


def test_missing_sources_raise_clear_errors(tmp_path):
    model = create_model(_our_config())
    with pytest.raises(FileNotFoundError, match="neither an existing path"):
        load_pretrained(model, tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="tags for"):
        load_pretrained(model, "ViT-B-32:no-such-tag")


def test_square_clip_grid_is_interpolated_to_a_vertical_grid(tmp_path):
    # 7x7 grid (as ViT-B/32 at 224) -> 11x6 (176x96 frames at patch 16, here 88x48 at patch 8).
    clip = _open_clip_model(image_size=56)
    state = clip.state_dict()
    model = create_model(_our_config(image_size=[88, 48], num_frames=2))
    report = load_weights(model, state, source="test")
    assert "visual.positional_embedding" in report.resized and not report.missing and not report.unexpected
    pos = model.visual.positional_embedding.detach()
    assert pos.shape == (1 + 11 * 6, 64)
    torch.testing.assert_close(pos[0], state["visual.positional_embedding"][0], rtol=0, atol=0)  # CLS kept
    # Same grid as open_clip's own resize (square source grid, target from visual.grid_size = (11, 6)).
    theirs = {"visual.positional_embedding": state["visual.positional_embedding"].clone()}
    resize_pos_embed(theirs, model)
    torch.testing.assert_close(pos, theirs["visual.positional_embedding"])
    with torch.no_grad():
        assert torch.isfinite(model.encode_video(torch.randn(1, 2, 3, 88, 48))).all()


def test_resize_grid_keeps_rows_as_rows():
    # Channel 0 encodes the row, channel 1 the column of a 4x4 grid; resized to 6x3, rows must stay rows.
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    pos = torch.cat([torch.full((1, 2), 9.0), torch.stack([rows, cols], dim=-1).reshape(16, 2)])
    out = resize_grid_pos_embed(pos, (6, 3))
    assert out.shape == (19, 2) and torch.equal(out[0], pos[0])
    grid = out[1:].reshape(6, 3, 2)
    assert (grid[1:, :, 0] > grid[:-1, :, 0]).all()  # row value grows down the rows
    torch.testing.assert_close(grid[:, :, 0], grid[:, :1, 0].expand(6, 3))  # ... and is the same across a row
    assert (grid[:, 1:, 1] > grid[:, :-1, 1]).all()  # column value grows across the columns
    with pytest.raises(ValueError, match="not square"):
        resize_grid_pos_embed(out, (4, 4))
    back = resize_grid_pos_embed(out, (4, 4), old_grid=(6, 3))
    assert back.shape == (17, 2)


def test_non_square_checkpoint_loads_into_another_grid(tmp_path):
    # The source grid of our own checkpoints (5x3 here) cannot be inferred from its length; config.json gives it.
    source = create_model(_our_config(image_size=[40, 24]))
    save_checkpoint(source, tmp_path / "ckpt")
    target = create_model(_our_config(image_size=[56, 32]))
    report = load_pretrained(target, tmp_path / "ckpt")
    assert "visual.positional_embedding" in report.resized
    expected = resize_grid_pos_embed(source.visual.positional_embedding.detach(), (7, 4), old_grid=(5, 3))
    torch.testing.assert_close(target.visual.positional_embedding.detach(), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape_mismatch"):  # a bare state dict has no grid to go by
        load_weights(create_model(_our_config(image_size=[56, 32])), source.state_dict())
