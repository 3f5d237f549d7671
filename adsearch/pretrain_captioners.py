"""``adsearch pretrain --captioners``: the fine and general captioners behind a pretrained tag.

They train on the same synthetic catalogs as the tag's retriever (``adsearch.pretrain``; the default catalog and
every ``test_comp`` video stay out), on the frozen vision tower and video embeddings of the *shipped* retriever of
that tag, so a workspace that installs the tag's retriever can use them as they are. Training resumes after its last
finished epoch. ``--export`` writes each one, half precision and without the frozen ViT (the retriever tag holds
it), with its tokenizer, config and a model card into ``captioner/pretrained_weights/<config>-<tag>/``;
:func:`install_pretrained_captioner` rebuilds it as a workspace checkpoint ``models/captioner-<kind>``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_PRETRAINED_TAG, captioner_name, retriever_name
from adsearch.pretrain import EVAL_CATALOG, PretrainRecipe, _catalog_id, _git_commit, _recipe, status_path
from adsearch.workspace import Workspace

__all__ = ["export_captioners", "install_pretrained_captioner", "pretrain_captioners", "shipped_retriever"]

CAPTION_KINDS = ("fine", "general")
CARD_SPLIT = "test"  # the default catalog's split the model card scores (greedy decoding)


def shipped_retriever(recipe: PretrainRecipe, tag: str) -> str:
    """The pretraining workspace's folder holding the *shipped* retriever of ``tag`` (the captioners' encoder)."""
    return f"{retriever_name(recipe.config)}-{tag}-shipped"


def _checkpoint(tag: str, kind: str) -> str:
    return f"{captioner_name(kind)}-{tag}"


def pretrain_captioners(
    ws: Workspace,
    tag: str = DEFAULT_PRETRAINED_TAG,
    *,
    kinds: tuple[str, ...] = CAPTION_KINDS,
    progress: bool = True,
    recipe: PretrainRecipe | None = None,
) -> dict[str, Any]:
    """Train (resumable) the ``kinds`` captioners of ``tag`` on its pretraining catalogs; returns the status written
    to ``<workspace>/pretrain-<tag>.json`` under ``"captioners"``.

    Raises:
        ValueError: the retriever of ``tag`` is not shipped yet (run ``adsearch pretrain --export`` first), or the
            workspace holds no pretraining data (run ``adsearch pretrain`` first).
    """
    from adsearch.captioner import caption_items, train_captioner_from_catalog
    from adsearch.retriever import install_pretrained

    recipe = recipe or _recipe(tag)
    folder = shipped_retriever(recipe, tag)
    install_pretrained(ws, config=recipe.config, tag=tag, model=folder)
    catalogs = {_catalog_id(s) for s in recipe.seeds}
    items = caption_items(ws, ["train", "val", "test"], catalogs=catalogs)
    path = status_path(ws, tag)
    status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"tag": tag}
    done = status.setdefault("captioners", {})
    for kind in kinds:
        t = time.perf_counter()
        run = train_captioner_from_catalog(
            ws,
            kind=kind,
            model=_checkpoint(tag, kind),
            retriever=folder,
            epochs=recipe.captioner_epochs,
            resume=True,
            progress=progress,
            items=items,
        )
        previous = done.get(kind, {})
        done[kind] = {
            "model_id": run.model_id,
            "train_clips": len(items),
            "epochs": recipe.captioner_epochs,
            "train_seconds": previous.get("train_seconds", 0.0) + (time.perf_counter() - t),
            "log": run.log,
        }
        path.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
    return status


def _card_metrics(ws: Workspace, net: Any, kind: str) -> dict[str, float]:
    """Greedy captions of the default catalog's ``CARD_SPLIT`` clips against its annotations."""
    from adsearch.captioner import caption_items
    from captioner import generate_captions, load_frames
    from captioner.metrics import caption_metrics, mean_words

    items = caption_items(ws, [CARD_SPLIT], catalogs={EVAL_CATALOG})
    refs = {it.clip_id: [it.reference if kind == "fine" else it.general] for it in items}
    preds = {}
    for start in range(0, len(items), 16):
        batch = items[start : start + 16]
        texts = generate_captions(net, [load_frames(net, it) for it in batch], samples=0)
        preds.update({it.clip_id: t for it, t in zip(batch, texts, strict=True)})
    refs = {k: v for k, v in refs.items() if v[0]}
    preds = {k: v for k, v in preds.items() if k in refs}
    return {**caption_metrics(preds, refs), "words": mean_words(preds.values()), "clips": len(preds)}


def export_captioners(
    ws: Workspace,
    tag: str = DEFAULT_PRETRAINED_TAG,
    dest_root: str | Path | None = None,
    *,
    kinds: tuple[str, ...] = CAPTION_KINDS,
    recipe: PretrainRecipe | None = None,
) -> list[Path]:
    """Write the trained captioners of ``tag`` as shipped tags (half precision, no frozen ViT, tokenizer, config,
    model card); each is installed again from what was written and scored (greedy captions of the default
    catalog's test split), so the card's figures are those of what ships. Returns the folders written."""
    from safetensors.torch import save_file

    from adsearch.captioner import load_trained_captioner, retriever_vision
    from captioner.checkpoint import FORMAT
    from captioner.config import config_to_dict
    from captioner.pretrained_tags import WEIGHTS_ROOT, build_from_tag, tag_state_dict
    from retrieval import read_checkpoint_meta

    recipe = recipe or _recipe(tag)
    folder = shipped_retriever(recipe, tag)
    status = json.loads(status_path(ws, tag).read_text(encoding="utf-8"))
    _, vision_state = retriever_vision(ws, folder)
    out = []
    for kind in kinds:
        trained = load_trained_captioner(ws, kind, _checkpoint(tag, kind), retriever=folder)
        dest = Path(dest_root or WEIGHTS_ROOT) / f"{trained.config.name}-{tag}"
        dest.mkdir(parents=True, exist_ok=True)
        save_file(tag_state_dict(trained), str(dest / "model.safetensors"))
        trained.tokenizer.save(str(dest / "tokenizer.json"))
        meta: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "config": config_to_dict(trained.config),
            "vision_config": trained.encoder.vision_config,
            "video_embedder": trained.video_embedder_id,  # the model id of the retriever tag it reads
        }
        (dest / "config.json").write_text(json.dumps(meta), encoding="utf-8")
        meta["model_id"] = build_from_tag(dest, vision_state_dict=vision_state).model_id
        meta.update(
            {
                "tag": tag,
                "kind": kind,
                "source_model_id": trained.model_id,
                "retriever": f"{recipe.config}:{tag}",
                "retriever_model_id": read_checkpoint_meta(ws.models_dir / folder)["model_id"],  # its frozen ViT
                "commit": _git_commit(),
                "recipe": {"seeds": list(recipe.seeds), "epochs": recipe.captioner_epochs},
                "training": {k: v for k, v in status["captioners"][kind].items() if k != "log"},
            }
        )
        (dest / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        installed, _ = install_pretrained_captioner(
            ws, kind, tag, retriever=folder, model=f"{_checkpoint(tag, kind)}-shipped", root=dest.parent
        )
        shipped = load_trained_captioner(ws, kind, installed.name, retriever=folder)
        meta["metrics"] = _card_metrics(ws, shipped, kind)
        (dest / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (dest / "train_log.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in status["captioners"][kind]["log"]), encoding="utf-8"
        )
        (dest / "MODEL_CARD.md").write_text(_model_card(meta), encoding="utf-8")
        out.append(dest)
    return out


def install_pretrained_captioner(
    ws: Workspace,
    kind: str,
    tag: str = DEFAULT_PRETRAINED_TAG,
    *,
    config: str | None = None,
    retriever: str | None = None,
    model: str | None = None,
    root: str | Path | None = None,
) -> tuple[Path, str]:
    """Write the shipped ``kind`` captioner of ``tag`` as the workspace checkpoint ``models/<model>`` (default
    ``captioner-<kind>``), on the frozen vision tower of the workspace's retriever ``models/<retriever>``; an
    up-to-date copy is kept. Returns ``(checkpoint folder, model id)``.

    Raises:
        ValueError: no such shipped tag, or the workspace's retriever is not the one the captioner was trained on
            (install the same tag's retriever first).
    """
    from adsearch.captioner import captioner_dir, retriever_vision
    from adsearch.defaults import DEFAULT_RETRIEVER
    from captioner import DEFAULT_CONFIGS, save_captioner
    from captioner.pretrained_tags import load_tag_weights, tag_dir
    from retrieval import read_checkpoint_meta

    retriever = retriever or DEFAULT_RETRIEVER
    folder = tag_dir(config or DEFAULT_CONFIGS[kind], tag, root)
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    have = read_checkpoint_meta(ws.models_dir / retriever)["model_id"]
    wanted = meta.get("retriever_model_id") or meta.get("video_embedder")
    if wanted and wanted != have:
        raise ValueError(
            f"the {kind} captioner of tag {tag} was trained on the retriever {wanted}, and "
            f"{ws.models_dir / retriever} holds {have}: install the retriever of tag {tag} first"
        )
    out_dir = captioner_dir(ws, kind, model)
    if (out_dir / "config.json").is_file():
        current = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
        if current.get("model_id") == meta["model_id"] and (out_dir / "model.safetensors").is_file():
            return out_dir, meta["model_id"]
    _, vision_state = retriever_vision(ws, retriever)
    model_id = save_captioner(load_tag_weights(folder, vision_state_dict=vision_state), out_dir)
    (out_dir / "PRETRAINED").write_text(f"{folder.name}\n", encoding="utf-8")
    return out_dir, model_id


def _model_card(meta: dict[str, Any]) -> str:
    m, t = meta["metrics"], meta["training"]
    return "\n".join(
        [
            f"# `{meta['config']['name']}` captioner ({meta['kind']}), pretrained tag `{meta['tag']}`",
            "",
            f"Model id when installed: `{meta['model_id']}`; built on the retriever `{meta['retriever']}` "
            f"(`{meta['retriever_model_id']}`): its vision tower is the frozen frame encoder (not in this file)"
            + (", and the fine captioner reads its video embeddings." if meta["video_embedder"] else "."),
            "",
            "## Data and training",
            "",
            f"The retriever tag's synthetic catalogs (seeds {meta['recipe']['seeds']}; train, val and test splits, "
            f"{t['train_clips']} clips; the default catalog and every test_comp video left out). "
            f"`adsearch pretrain --tag {meta['tag']} --captioners` (resumable), then the same with `--export`. "
            f"Epochs: {t['epochs'] or 'the config recipe'}; training {t['train_seconds']:.0f} s on a shared 2-core "
            f"CPU machine. Commit {meta['commit']}. Per-epoch log: train_log.jsonl. Weights in half precision.",
            "",
            f"## Greedy captions of the default catalog's test split ({m['clips']} clips, never trained on)",
            "",
            "| BLEU-1 | BLEU-4 | CIDEr | ROUGE-L | words |",
            "|---|---|---|---|---|",
            f"| {m['BLEU-1']:.1f} | {m['BLEU-4']:.1f} | {m['CIDEr']:.1f} | {m['ROUGE-L']:.1f} | {m['words']:.1f} |",
            "",
        ]
    )
