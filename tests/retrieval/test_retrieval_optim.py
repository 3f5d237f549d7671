"""Tests of the learning-rate schedule and its checkpointable state."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch

from retrieval.optim import WarmupCosine


def test_warmup_then_cosine_to_the_floor():
    s = WarmupCosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [s(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(4) == pytest.approx(1.0)  # decay starts at the peak
    assert s(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # half way: 0.55
    assert s(14) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    values = [s(i) for i in range(4, 15)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_scheduler_state_survives_weights_only_load():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(warmup_steps=2, total_steps=10))
    for _ in range(3):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1.0)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, WarmupCosine(warmup_steps=2, total_steps=10))
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert sched2.last_epoch == 3 and sched2.get_last_lr() == sched.get_last_lr()
