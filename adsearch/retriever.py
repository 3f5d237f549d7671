"""Training and evaluating the retriever on the workspace's catalog (the glue between indexer and retrieval)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adsearch.workspace import Workspace

__all__ = [
    "ANNOTATION_SOURCES",
    "RECIPES",
    "RETRIEVER_TEXT_KINDS",
    "catalog_items",
    "format_metrics",
    "install_pretrained",
    "train_from_catalog",
]

RETRIEVER_TEXT_KINDS = ("reference", "general", "asr")  # what the retriever trains on and is evaluated with
# Texts the catalog brings (manifest annotations, ingest's ASR), as opposed to captions our captioners generate.
ANNOTATION_SOURCES = ("manifest", "whisper:%")

# Training recipes per model config, used unless the caller overrides them, measured on the default synthetic
# catalog (1,049 train clips, test gallery of 256 clips). With `tiny` (112x64, conv stem), 6 epochs gave test
# reference R@1 21.9 and 12 epochs 34.8 at lr 5e-4; lr 2.5e-4 / 1e-3 / 2e-3 did no better than 5e-4 (6 epochs at
# 144x80). `tiny-crop` with this recipe reached 23.4-30.9 across runs.
# `tiny` from scratch (make demo --from-scratch), 2026-11-29 on the default catalog: bf16 autocast on CPU makes a
# step ~1.9x faster at the same recall (12 epochs: reference R@1 35.5 / R@10 91.0), so the same budget now buys 24
# epochs: R@1 45.3 / R@10 94.5 (docs/experiments.md).
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"lr": 5e-4, "epochs": 24, "amp_cpu": True},
    "tiny-meanp": {"lr": 5e-4, "epochs": 12},
    "tiny-crop": {"lr": 5e-4, "epochs": 12},
}


def catalog_items(ws: Workspace, splits: Sequence[str]) -> list:
    """The catalog's clips of ``splits`` as ``retrieval.ClipItem`` with the catalog's own texts (reference, general,
    asr from the manifest or ingest's ASR; generated captions are left out).

    Raises:
        FileNotFoundError: no catalog yet.
        ValueError: the catalog has no clips in these splits.
    """
    from indexer.catalog import open_catalog
    from retrieval import ClipItem

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.clips_with_texts(splits=splits, text_sources=ANNOTATION_SOURCES)
    if not rows:
        raise ValueError(f"the catalog has no clips in split(s) {', '.join(splits)}; ingest a catalog with splits")
    return [
        ClipItem(
            clip_id=r["clip_id"],
            path=r["path"],
            start_s=r["start_s"],
            end_s=r["end_s"],
            texts={k: r["texts"][k] for k in RETRIEVER_TEXT_KINDS if k in r["texts"]},
        )
        for r in rows
    ]


@dataclass(frozen=True)
class TrainRun:
    """What ``train_from_catalog`` produced."""

    checkpoint_dir: Path
    model_id: str
    metrics: dict[str, dict[str, dict[str, float]]]  # split -> query kind -> metric
    seconds: float


def train_from_catalog(
    ws: Workspace,
    *,
    model: str = "tiny",
    name: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    resume: bool = False,
    eval_splits: Sequence[str] = ("test", "test_comp"),
    device: str | None = None,
    pretrained: str | None = None,
) -> TrainRun:
    """Train ``model`` on the train split, evaluate text->video on ``eval_splits``; checkpoints under models/.

    ``pretrained``: a shipped tag (``retrieval.list_pretrained()``) to fine-tune from instead of random weights.
    """
    import time

    from retrieval import TrainConfig, create_model, evaluate_retrieval, train_retriever

    t0 = time.perf_counter()
    train = catalog_items(ws, ["train"])
    evals = {}
    for split in eval_splits:
        try:
            evals[split] = catalog_items(ws, [split])
        except ValueError:  # a catalog without that split (e.g. no compositional set) is evaluated without it
            continue
    given = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)) if v is not None}
    overrides: dict[str, Any] = {**RECIPES.get(model, {}), **given}
    cfg = TrainConfig(
        **overrides,
        frame_cache_dir=str(ws.root / "cache" / "frames"),
        device=device,
    )
    net = create_model(model, pretrained=pretrained) if pretrained else create_model(model)
    out_dir = ws.models_dir / (name or f"retriever-{model}")
    first_eval = next(iter(evals.values()), None)
    result = train_retriever(net, train, eval_items=first_eval, cfg=cfg, out_dir=out_dir, resume=resume, progress=True)
    metrics = {}
    for split, items in evals.items():
        metrics[split] = evaluate_retrieval(net, items, query_kinds=list(RETRIEVER_TEXT_KINDS), progress=True)
    return TrainRun(out_dir, result.model_id, metrics, time.perf_counter() - t0)


def format_metrics(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table: one row per (split, query kind) with R@1/5/10, MdR, MnR."""
    lines = ["| split | queries | n | R@1 | R@5 | R@10 | MdR | MnR |", "|---|---|---|---|---|---|---|---|"]
    for split, by_kind in metrics.items():
        for kind, m in by_kind.items():
            lines.append(
                f"| {split} | {kind} | {int(m['n_queries'])} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} "
                f"| {m['MdR']:.1f} | {m['MnR']:.1f} |"
            )
    return "\n".join(lines)


def install_pretrained(
    ws: Workspace, *, model: str = "tiny", tag: str = "synth-v1", name: str | None = None
) -> tuple[Path, str, bool]:
    """Write the shipped weights of ``model`` + ``tag`` as the workspace checkpoint ``models/<name>`` (default
    ``retriever-<model>``), the folder every other command reads; an up-to-date copy is kept.

    Returns:
        ``(checkpoint folder, model id, written now)``.

    Raises:
        ValueError: no such shipped tag.
    """
    import json

    from retrieval import create_model, read_checkpoint_meta, save_checkpoint
    from retrieval.pretrained_tags import tag_dir

    expected = json.loads((tag_dir(model, tag) / "config.json").read_text(encoding="utf-8"))["model_id"]
    out_dir = ws.models_dir / (name or f"retriever-{model}")
    if (out_dir / "model.safetensors").is_file():
        try:
            if read_checkpoint_meta(out_dir)["model_id"] == expected:
                return out_dir, expected, False
        except (FileNotFoundError, ValueError, KeyError):
            pass
        if (out_dir / "train_state.pt").is_file():
            raise ValueError(f"{out_dir} holds a training run; remove it or give another name to install {tag}")
    model_id = save_checkpoint(create_model(model, pretrained=tag), out_dir)
    (out_dir / "PRETRAINED").write_text(f"{model}:{tag}\n", encoding="utf-8")
    return out_dir, model_id, True
