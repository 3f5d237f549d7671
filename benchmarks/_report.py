"""Benchmark output helpers: a markdown table from result rows, and the JSON + markdown files under ``--out``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Column", "markdown_table", "write_report"]

Column = tuple[str, Callable[[Mapping[str, Any]], Any]]  # (header, row -> cell value)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A GitHub markdown table with one line per row; cells that are None print as an em dash."""
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(get(row)) for _, get in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir: Path, name: str, result: Mapping[str, Any], table: str) -> tuple[Path, Path]:
    """Write ``<name>.json`` (the full result) and ``<name>.md`` (the table) into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text(table + "\n")
    return json_path, md_path
