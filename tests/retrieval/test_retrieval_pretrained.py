"""Loading open_clip weights into the video model: equivalence with open_clip, interpolation, strictness."""

from __future__ import annotations

import math

import pytest
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file

from retrieval import create_model, load_pretrained, load_weights

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
