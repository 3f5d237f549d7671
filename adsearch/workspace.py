"""The workspace: one folder holding everything a run produces (docs/ARCHITECTURE.md, "The workspace")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_WORKSPACE", "ENV_VAR", "Workspace"]

ENV_VAR = "ADSEARCH_HOME"
DEFAULT_WORKSPACE = "workspace"


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder; creating the object creates nothing on disk."""

    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> Workspace:
        """``path`` if given, else ``$ADSEARCH_HOME``, else ``./workspace``."""
        chosen = path or os.environ.get(ENV_VAR) or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().resolve())

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def thumbs_dir(self) -> Path:
        return self.root / "thumbs"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def vectors_dir(self) -> Path:
        return self.root / "vectors"

    @property
    def indexes_dir(self) -> Path:
        return self.root / "indexes"

    @property
    def bench_dir(self) -> Path:
        return self.root / "bench"

    @property
    def catalogs_dir(self) -> Path:
        """Generated catalogs (videos + manifest) from ``adsearch synth``."""
        return self.root / "catalogs"

    def synth_dir(self, n_clips: int, seed: int) -> Path:
        return self.catalogs_dir / f"synth-{n_clips}-s{seed}"
