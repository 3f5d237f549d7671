"""Shared fixtures of the retrieval tests (helpers live in retrieval_helpers.py)."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub from the tests


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
