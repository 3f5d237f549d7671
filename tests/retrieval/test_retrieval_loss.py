"""Tests of the contrastive loss, the omnisource sum and the temperature clamp."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from retrieval import clamp_logit_scale_, contrastive_loss, create_model, omnisource_loss, training_step
from retrieval.optim import build_optimizer

from .retrieval_helpers import open_clip_text_config


def _unit(n: int, d: int = 8) -> torch.Tensor:
    return F.normalize(torch.randn(n, d), dim=-1)


def test_loss_is_symmetric_in_video_and_text():
    v, t = _unit(6), _unit(6)
    scale = torch.tensor(math.log(100.0))
    torch.testing.assert_close(contrastive_loss(v, t, scale), contrastive_loss(t, v, scale))
    # Not trivially symmetric: the two directions differ on their own.
    logits = scale.exp() * v @ t.T
    assert not torch.isclose(F.cross_entropy(logits, torch.arange(6)), F.cross_entropy(logits.T, torch.arange(6)))


def test_loss_matches_hand_computation():
    eye = torch.eye(2)
    # logits = I (scale 1): each row's CE is -log(e / (e + 1)) = log(1 + e^-1).
    assert contrastive_loss(eye, eye, torch.tensor(0.0)).item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_duplicate_texts_are_not_negatives_of_each_other():
    v, t = _unit(4), _unit(4)
    scale = torch.tensor(math.log(10.0))
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 2] = same[2, 0] = True  # clips 0 and 2 carry the same caption
    logits = scale.exp() * v @ t.T
    want = 0.0
    for m in (logits, logits.T):  # by hand: drop the pair (0, 2) from rows 0 and 2 of each direction
        rows = [
            F.cross_entropy(
                m[i][[j for j in range(4) if not same[i, j]]][None],
                torch.tensor([[j for j in range(4) if not same[i, j]].index(i)]),
            )
            for i in range(4)
        ]
        want += torch.stack(rows).mean() / 2
    got = contrastive_loss(v, t, scale, same_text=same)
    torch.testing.assert_close(got, want)
    assert not torch.isclose(got, contrastive_loss(v, t, scale))  # the masking changed the loss
    # The omnisource sum passes a source's duplicates on.
    _, parts = omnisource_loss(
        v, {"caption": (t, torch.arange(4))}, scale, {"caption": 1.0}, same_text={"caption": same}
    )
    torch.testing.assert_close(parts["caption"], got)


def test_omnisource_weights_and_subsets():
    v = _unit(4)
    scale = torch.tensor(2.0)
    asr, cap = _unit(3), _unit(4)
    rows_asr = torch.tensor([0, 2, 3])
    total, parts = omnisource_loss(
        v, {"asr": (asr, rows_asr), "caption": (cap, torch.arange(4))}, scale, {"asr": 0.5, "caption": 2.0}
    )
    torch.testing.assert_close(parts["asr"], contrastive_loss(v[rows_asr], asr, scale))
    torch.testing.assert_close(total, 0.5 * parts["asr"] + 2.0 * parts["caption"])
    # A source with a single pair has no negatives and is skipped.
    total, parts = omnisource_loss(v, {"asr": (asr[:1], torch.tensor([1])), "caption": (cap, torch.arange(4))},
                                   scale, {"asr": 1.0, "caption": 1.0})  # fmt: skip
    assert set(parts) == {"caption"}
    with pytest.raises(ValueError, match="no loss weight"):
        omnisource_loss(v, {"ocr": (cap, torch.arange(4))}, scale, {"asr": 1.0})


def test_clamp_bounds():
    p = torch.nn.Parameter(torch.tensor(10.0))
    clamp_logit_scale_(p)
    assert p.item() == pytest.approx(math.log(200.0))
    p.data.fill_(-1.0)
    clamp_logit_scale_(p)
    assert p.item() == 0.0
    p.data.fill_(3.0)
    clamp_logit_scale_(p)
    assert p.item() == 3.0


class _Overshoot(torch.optim.Optimizer):
    """An optimiser whose step throws the logit scale to a fixed value, to check who clamps."""

    def __init__(self, params, target: torch.nn.Parameter, value: float):
        super().__init__(params, {})
        self.target, self.value = target, value

    def step(self, closure=None):
        with torch.no_grad():
            self.target.fill_(self.value)


@pytest.mark.parametrize(("value", "expected"), [(50.0, math.log(200.0)), (-3.0, 0.0)])
def test_training_step_clamps_logit_scale_after_the_optimiser(value, expected):
    model = create_model(open_clip_text_config())
    opt = _Overshoot(model.parameters(), model.logit_scale, value)
    frames = torch.randint(0, 255, (3, 3, 32, 32, 3), dtype=torch.uint8)
    texts = {"caption": (["a", "b", "c"], [0, 1, 2])}
    stats = training_step(model, frames, texts, optimizer=opt, loss_weights={"caption": 1.0})
    assert model.logit_scale.item() == pytest.approx(expected)
    assert math.isfinite(stats["loss"]) and "loss_caption" in stats


def test_training_step_updates_weights_and_exempts_no_decay_params():
    model = create_model(open_clip_text_config())
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.2)
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    named = dict(model.named_parameters())
    assert id(named["visual.conv1.weight"]) in decayed
    for exempt in ("visual.video_proxy.tokens", "visual.positional_embedding", "logit_scale", "visual.ln_pre.weight",
                   "visual.temporal_embedding.weight", "text.token_embedding.weight"):  # fmt: skip
        assert id(named[exempt]) not in decayed, exempt
    before = model.visual.conv1.weight.detach().clone()
    frames = torch.randint(0, 255, (2, 3, 32, 32, 3), dtype=torch.uint8)
    training_step(model, frames, {"caption": (["x", "y"], [0, 1])}, optimizer=opt, loss_weights={"caption": 1.0})
    assert not torch.equal(before, model.visual.conv1.weight)


def test_lr_ratios_put_a_prefix_in_groups_at_a_scaled_learning_rate():
    model = create_model(open_clip_text_config())
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.2, lr_ratios={"visual.": 0.1})
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["visual.conv1.weight"])] == pytest.approx((1e-4, 0.2))
    assert lr_of[id(named["visual.video_proxy.tokens"])] == pytest.approx((1e-4, 0.0))
    assert lr_of[id(named["text.token_embedding.weight"])] == pytest.approx((1e-3, 0.0))
    assert lr_of[id(named["logit_scale"])] == pytest.approx((1e-3, 0.0))
    assert len(lr_of) == sum(p.requires_grad for p in model.parameters())
