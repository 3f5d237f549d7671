"""Tests of the torch-only layers: proxy-guided mask, temporal interpolation, proxy tokens."""

from __future__ import annotations

import pytest
import torch

from retrieval import create_model
from retrieval.layers import (
    TemporalEmbedding,
    VideoProxy,
    interpolate_temporal,
    proxy_attention_allowed,
    proxy_attention_mask,
    proxy_guided_block,
)

from .retrieval_helpers import open_clip_text_config


def test_mask_matches_hand_built_layout():
    # [p | f0a f0b | f1a f1b]
    t, f = True, False
    expected = torch.tensor(
        [
            [t, t, t, t, t],
            [t, t, t, f, f],
            [t, t, t, f, f],
            [t, f, f, t, t],
            [t, f, f, t, t],
        ]
    )
    assert torch.equal(proxy_attention_allowed(1, 2, 2), expected)
    mask = proxy_attention_mask(1, 2, 2)
    assert mask.dtype == torch.float32
    assert torch.equal(mask == 0, expected) and torch.isinf(mask[~expected]).all() and (mask[~expected] < 0).all()


def test_mask_rejects_empty_layout():
    with pytest.raises(ValueError, match="num_proxies"):
        proxy_attention_allowed(0, 2, 2)


def _first_blocks(model, frames, batched=False):
    visual = model.visual
    x, mask = visual.video_tokens(frames)
    blocks = visual.transformer.resblocks
    if batched:  # the form forward_video runs
        m, t = visual.video_proxy.num_tokens, frames.shape[1]
        y1 = proxy_guided_block(blocks[0], x, m, t)
        return y1, proxy_guided_block(blocks[1], y1, m, t)
    y1 = blocks[0](x, attn_mask=mask)
    y2 = blocks[1](y1, attn_mask=mask)
    return y1, y2


@pytest.mark.parametrize("batched", [False, True], ids=["mask", "batched"])
@pytest.mark.parametrize(("image_size", "n_tok"), [(32, 16), ([40, 24], 15), ([16, 40], 10)])
def test_proxy_guided_attention_property(image_size, n_tok, batched):
    # n_tok: patches per frame, gh * gw with 8 px patches (4x4, 5x3, 2x5).
    cfg = open_clip_text_config(vision={"num_frames": 3, "num_proxies": 2, "image_size": image_size})
    model = create_model(cfg).eval()
    m = 2  # proxies
    assert cfg.vision.num_patches == n_tok
    frames = torch.randn(1, 3, 3, *cfg.vision.image_hw)
    changed = frames.clone()
    changed[:, 1] = torch.randn(1, 3, *cfg.vision.image_hw)
    with torch.no_grad():
        # Non-zero temporal embedding so that it takes part in the check.
        model.visual.temporal_embedding.weight.normal_()
        a1, a2 = _first_blocks(model, frames, batched)
        b1, b2 = _first_blocks(model, changed, batched)
    frame0 = slice(m, m + n_tok)
    frame1 = slice(m + n_tok, m + 2 * n_tok)
    # Layer 1: frame 0's patches see only the proxies and frame 0, neither of which changed.
    torch.testing.assert_close(a1[:, frame0], b1[:, frame0], rtol=0, atol=1e-6)
    assert not torch.allclose(a1[:, :m], b1[:, :m], atol=1e-4), "proxies must see frame 1"
    assert not torch.allclose(a1[:, frame1], b1[:, frame1], atol=1e-4)
    # Layer 2: frame 1 reaches frame 0 through the proxies.
    assert not torch.allclose(a2[:, frame0], b2[:, frame0], atol=1e-4)


def test_batched_form_equals_the_masked_transformer_and_its_gradients():
    cfg = open_clip_text_config(vision={"num_frames": 3, "num_proxies": 2, "image_size": [40, 24]})
    model = create_model(cfg)
    with torch.no_grad():
        model.visual.temporal_embedding.weight.normal_()
    frames = torch.randn(2, 3, 3, 40, 24)
    x, mask = model.visual.video_tokens(frames)
    masked = model.visual.transformer(x, attn_mask=mask)
    batched = model.visual.forward_tokens(frames)
    torch.testing.assert_close(batched, masked, rtol=1e-4, atol=1e-5)
    masked[:, 0].sum().backward()
    want = {n: p.grad.clone() for n, p in model.visual.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.visual.forward_tokens(frames)[:, 0].sum().backward()
    for name, grad in want.items():
        torch.testing.assert_close(dict(model.visual.named_parameters())[name].grad, grad, rtol=1e-3, atol=1e-5)


def test_batched_form_rejects_a_ragged_sequence():
    model = create_model(open_clip_text_config())
    with pytest.raises(ValueError, match="not 4 proxies"):
        proxy_guided_block(model.visual.transformer.resblocks[0], torch.randn(1, 4 + 7, 64), 4, 2)


def test_without_mask_frame0_would_change():
    # Control for the property test: full attention lets frame 1 reach frame 0 in one layer.
    model = create_model(open_clip_text_config()).eval()
    frames = torch.randn(1, 3, 3, 32, 32)
    changed = frames.clone()
    changed[:, 1] = torch.randn(1, 3, 32, 32)
    blk = model.visual.transformer.resblocks[0]
    with torch.no_grad():
        a = blk(model.visual.video_tokens(frames)[0])
        b = blk(model.visual.video_tokens(changed)[0])
    assert not torch.allclose(a[:, 4:20], b[:, 4:20], atol=1e-4)


def test_temporal_interpolation_identity_and_linear_values():
    weight = torch.arange(12, dtype=torch.float32)[:, None].repeat(1, 3)  # slot s holds value s
    assert interpolate_temporal(weight, 12) is weight
    # Frame t of T reads slot position (t + 0.5) * S / T - 0.5, clamped to [0, S - 1].
    torch.testing.assert_close(interpolate_temporal(weight, 6)[:, 0], torch.tensor([0.5, 2.5, 4.5, 6.5, 8.5, 10.5]))
    torch.testing.assert_close(interpolate_temporal(weight, 1)[:, 0], torch.tensor([5.5]))
    t = torch.arange(24, dtype=torch.float32)
    torch.testing.assert_close(interpolate_temporal(weight, 24)[:, 0], ((t + 0.5) / 2 - 0.5).clamp(0, 11))
    assert interpolate_temporal(weight, 6).shape == (6, 3)


def test_temporal_embedding_is_zero_initialised_and_differentiable():
    emb = TemporalEmbedding(num_slots=4, width=8)
    assert torch.count_nonzero(emb.weight) == 0
    emb(6).pow(2).sum().backward()  # interpolated path keeps the graph
    assert emb.weight.grad is not None and emb.weight.grad.shape == (4, 8)


def test_video_proxy_init_and_position():
    proxy = VideoProxy(num_tokens=4, width=8)
    cls = torch.randn(8)
    proxy.init_from_(cls, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(proxy.tokens[0], cls)
    assert not torch.allclose(proxy.tokens[1], cls)  # noise keeps the extra proxies distinct
    assert (proxy.tokens[1:] - cls).abs().max() < 0.2
    pos = torch.randn(8)
    out = proxy(3, pos)
    assert out.shape == (3, 4, 8)
    torch.testing.assert_close(out[2], proxy.tokens + pos)  # every proxy gets the position-0 embedding
