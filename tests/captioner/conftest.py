"""Shared fixtures of the captioner tests (helpers live in captioner_helpers.py)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # Test-size models are dominated by per-op overhead; on a shared 2-core machine two intra-op threads spin
    # against other processes and run an order of magnitude slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
