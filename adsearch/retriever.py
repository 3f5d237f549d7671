"""Training and evaluating the retriever on the workspace's catalog (the glue between indexer and retrieval)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_PRETRAINED_TAG, DEFAULT_RETRIEVER_CONFIG, retriever_name
from adsearch.workspace import Workspace

__all__ = [
    "ANNOTATION_SOURCES",
    "RETRIEVER_TEXT_KINDS",
    "catalog_items",
    "check_model_name",
    "format_metrics",
    "install_pretrained",
    "train_from_catalog",
]

RETRIEVER_TEXT_KINDS = ("reference", "general", "asr")  # what the retriever trains on and is evaluated with
# Texts the catalog brings (manifest annotations, ingest's ASR), as opposed to captions our captioners generate.
ANNOTATION_SOURCES = ("manifest", "whisper:%")


def check_model_name(model: str | None) -> None:
    """``model`` names a checkpoint folder under ``<workspace>/models``; a registered architecture name there is the
    old meaning of ``model`` (before ``config`` named the architecture) and is refused rather than trained into a
    folder of that name.

    Raises:
        ValueError: ``model`` is a name of ``retrieval.list_models()``.
    """
    from retrieval import list_models

    if model is not None and model in list_models():
        raise ValueError(
            f"model names the checkpoint folder under models/, and {model!r} is an architecture config: "
            f"pass config={model!r} (and model=FOLDER for the checkpoint)"
        )


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
    config: str = DEFAULT_RETRIEVER_CONFIG,
    model: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    resume: bool = False,
    eval_splits: Sequence[str] = ("test", "test_comp"),
    device: str | None = None,
    pretrained: str | None = None,
) -> TrainRun:
    """Train a retriever of architecture ``config`` on the train split into the checkpoint folder
    ``models/<model>`` (default ``retriever-<config>``), evaluate text->video on ``eval_splits``.

    ``epochs``, ``batch_size``, ``lr``: override the config's recipe (``retrieval.get_recipe``).
    ``pretrained``: a shipped tag (``retrieval.list_pretrained()``) to fine-tune from instead of random weights.

    Raises:
        ValueError: ``model`` names a registered architecture (pass it as ``config``), or ``config`` is unknown.
    """
    import time

    from retrieval import TrainConfig, create_model, evaluate_retrieval, get_recipe, train_retriever

    check_model_name(model)
    recipe = get_recipe(config)  # an unknown config fails here, before the catalog is read

    t0 = time.perf_counter()
    train = catalog_items(ws, ["train"])
    evals = {}
    for split in eval_splits:
        try:
            evals[split] = catalog_items(ws, [split])
        except ValueError:  # a catalog without that split (e.g. no compositional set) is evaluated without it
            continue
    given = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)) if v is not None}
    overrides: dict[str, Any] = {**recipe, **given}
    cfg = TrainConfig(
        **overrides,
        frame_cache_dir=str(ws.root / "cache" / "frames"),
        device=device,
    )
    net = create_model(config, pretrained=pretrained) if pretrained else create_model(config)
    out_dir = ws.models_dir / (model or retriever_name(config))
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
    ws: Workspace,
    *,
    config: str = DEFAULT_RETRIEVER_CONFIG,
    tag: str = DEFAULT_PRETRAINED_TAG,
    model: str | None = None,
) -> tuple[Path, str, bool]:
    """Write the shipped weights of ``config`` + ``tag`` as the workspace checkpoint ``models/<model>`` (default
    ``retriever-<config>``), the folder every other command reads; an up-to-date copy is kept.

    Returns:
        ``(checkpoint folder, model id, written now)``.

    Raises:
        ValueError: no such shipped tag.
    """
    import json

    from retrieval import create_model, read_checkpoint_meta, save_checkpoint
    from retrieval.pretrained_tags import tag_dir

    check_model_name(model)
    expected = json.loads((tag_dir(config, tag) / "config.json").read_text(encoding="utf-8"))["model_id"]
    out_dir = ws.models_dir / (model or retriever_name(config))
    if (out_dir / "model.safetensors").is_file():
        try:
            if read_checkpoint_meta(out_dir)["model_id"] == expected:
                return out_dir, expected, False
        except (FileNotFoundError, ValueError, KeyError):
            pass
        if (out_dir / "train_state.pt").is_file():
            raise ValueError(f"{out_dir} holds a training run; remove it or give another name to install {tag}")
    model_id = save_checkpoint(create_model(config, pretrained=tag), out_dir)
    (out_dir / "PRETRAINED").write_text(f"{config}:{tag}\n", encoding="utf-8")
    return out_dir, model_id, True
