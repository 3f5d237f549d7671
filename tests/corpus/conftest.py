"""Fixtures for the corpus tests: tiny synthetic catalogs rendered once per session, and a reader of their frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from corpus.manifest import Manifest, read_manifest
from corpus.synth import CatalogPlan, SynthCatalog, generate_catalog, plan_catalog

TINY_CLIPS = 26  # enough for one video in each of the four splits, small enough to render in seconds
TINY_SEED = 7


@dataclass(frozen=True)
class Tiny:
    """A rendered tiny catalog, its manifest and the plan it was rendered from."""

    out: Path
    result: SynthCatalog
    manifest: Manifest
    plan: CatalogPlan


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _make(out: Path, workers: int, seed: int = TINY_SEED, n_clips: int = TINY_CLIPS) -> Tiny:
    result = generate_catalog(out, n_clips=n_clips, seed=seed, workers=workers)
    return Tiny(out, result, read_manifest(result.manifest_path), plan_catalog(n_clips, seed=seed))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """A 26-clip catalog rendered by two worker processes."""
    return _make(tmp_path_factory.mktemp("synth_w2"), workers=2)


@pytest.fixture(scope="session")
def tiny_serial(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """The same catalog rendered in-process."""
    return _make(tmp_path_factory.mktemp("synth_w1"), workers=1)


@pytest.fixture(scope="session")
def tiny_other_seed(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """A small catalog from another seed."""
    return _make(tmp_path_factory.mktemp("synth_seed8"), workers=1, seed=TINY_SEED + 1, n_clips=8)
