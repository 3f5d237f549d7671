"""The import direction of docs/ARCHITECTURE.md ("Packages and the direction of imports"), checked on the source.

Every ``import`` / ``from ... import`` of every module of each package is read with ``ast`` (imports inside functions
and under ``TYPE_CHECKING`` included: a lazy import is still a dependency) and compared with the packages it may
import: only those to its left in

    media  <-  corpus  <-  retrieval, captioner  <-  indexer  <-  adsearch  <-  benchmarks
    modelkit  <-  retrieval, captioner
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BELOW: dict[str, set[str]] = {  # package -> the packages of this repository it may import
    "media": set(),
    "modelkit": set(),
    "corpus": {"media"},
    "retrieval": {"media", "corpus", "modelkit"},
    "captioner": {"media", "corpus", "modelkit"},
    "indexer": {"media", "corpus", "modelkit", "retrieval", "captioner"},
    "adsearch": {"media", "corpus", "modelkit", "retrieval", "captioner", "indexer"},
    "benchmarks": {"media", "corpus", "modelkit", "retrieval", "captioner", "indexer", "adsearch"},
}


def imported_packages(path: Path) -> dict[str, int]:
    """Top-level packages of this repository that ``path`` imports (absolute imports), with a line of each."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in BELOW:
                found.setdefault(top, node.lineno)
    return found


def test_every_package_of_the_repository_has_a_place_in_the_direction() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(BELOW), "a new package needs its place in ARCHITECTURE.md and in BELOW"


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_package_imports_only_the_packages_to_its_left(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for top, line in imported_packages(path).items():
            if top != package and top not in BELOW[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    assert not wrong, f"{package} may import only {sorted(BELOW[package])}:\n" + "\n".join(wrong)


def test_the_checker_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from indexer.search import Hit\n"
        "def f():\n    import benchmarks.recall\n    from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_packages(source) == {"indexer": 3, "benchmarks": 5}
