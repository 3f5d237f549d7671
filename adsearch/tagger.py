"""The attribute tagger of a workspace (``captioner.tagger``): ``adsearch tag`` writes each clip's predicted
attributes as a ``tags`` text, which the description channel indexes beside the fine and general captions;
``adsearch pretrain --tagger`` trains the tagger of a pretrained tag and ships it.

The tagger reads the fine captioner's frozen inputs (its ViT tokens and video embedding), so it pairs with the
fine captioner it was trained beside: a workspace's ``models/tagger`` must record the same frozen-inputs id as its
``models/captioner-fine`` (``captioner.train.frozen_inputs_key``), else ``adsearch tag`` refuses it.

Training labels come from the synthetic generator's ground truth (``corpus.synth.queries.clip_attributes`` of each
clip's planned shot), on the same pretraining catalogs as the tag's captioners; the default catalog is never
trained on, and its test split scores the model card.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_PRETRAINED_TAG
from adsearch.workspace import Workspace

__all__ = [
    "TAGGER",
    "TAGS_KIND",
    "install_pretrained_tagger",
    "load_workspace_tagger",
    "plan_attributes",
    "pretrain_tagger",
    "tag_catalog",
    "tag_texts",
]

TAGGER = "tagger"  # the workspace checkpoint folder models/<TAGGER>
TAGS_KIND = "tags"  # the catalog text kind the tagger writes
TAGGER_EPOCHS = 30


def shipped_tagger_dir(tag: str = DEFAULT_PRETRAINED_TAG, root: str | Path | None = None) -> Path:
    """The folder of the shipped tagger of ``tag``.

    Raises:
        ValueError: no tagger ships for ``tag``.
    """
    from captioner.tagger import WEIGHTS_ROOT

    folder = Path(root or WEIGHTS_ROOT) / f"tagger-{tag}"
    if not (folder / "model.safetensors").is_file():
        raise ValueError(f"no attribute tagger ships for tag {tag!r} ({folder} is missing)")
    return folder


def install_pretrained_tagger(ws: Workspace, tag: str = DEFAULT_PRETRAINED_TAG, *, root: str | Path | None = None):
    """Copy the shipped tagger of ``tag`` to ``models/tagger`` (an identical copy is kept); returns it loaded.

    Raises:
        ValueError: no tagger ships for ``tag``, or its files do not match their recorded model id.
    """
    from captioner.tagger import load_tagger

    source = shipped_tagger_dir(tag, root)
    shipped = load_tagger(source)
    dest = ws.models_dir / TAGGER
    have = None
    if (dest / "config.json").is_file():
        have = json.loads((dest / "config.json").read_text(encoding="utf-8")).get("model_id")
    if have != shipped.model_id:
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "config.json"):
            shutil.copyfile(source / name, dest / name)
    return load_tagger(dest)


def load_workspace_tagger(ws: Workspace, model: str | None = None) -> tuple[Any, Any]:
    """(fine captioner, tagger) of the workspace, checked to share the frozen inputs the tagger was trained on.

    Raises:
        FileNotFoundError: no fine captioner or no tagger (the message names the command that installs it).
        ValueError: the tagger was trained on another captioner's inputs.
    """
    from adsearch.captioner import load_trained_captioner
    from captioner.tagger import load_tagger
    from captioner.train import frozen_inputs_key

    folder = ws.models_dir / (model or TAGGER)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no attribute tagger at {folder}: `adsearch demo` installs the shipped one "
            f"(`adsearch tag --install {DEFAULT_PRETRAINED_TAG}` does it alone)"
        )
    net = load_trained_captioner(ws, "fine")
    tagger = load_tagger(folder)
    key = frozen_inputs_key(net)
    if tagger.inputs_id != key:
        raise ValueError(
            f"the tagger {tagger.model_id} was trained on frozen inputs {tagger.inputs_id}, the workspace's fine "
            f"captioner reads {key}: use the tagger shipped with that captioner's pretrained tag"
        )
    return net, tagger


def tag_texts(net: Any, tagger: Any, frames: Sequence[Any]) -> list[str]:
    """The ``tags`` text of each clip: its frames (as ``captioner.load_frames`` gives them) -> attributes -> text."""
    import numpy as np
    import torch

    from captioner.attribute_text import attributes_text, decode_attributes

    batch = np.stack(frames)
    with torch.no_grad():
        probs = tagger.probabilities(net.encode_frames(batch).float(), net.encode_video(batch)).cpu().numpy()
    return [attributes_text(decode_attributes(p, tagger.vocabulary)) for p in probs]


@dataclass(frozen=True)
class _TagModel:
    """The stage's model: ``tag_texts`` on this captioner and tagger."""

    net: Any
    tagger: Any

    def __call__(self):
        return functools.partial(tag_texts, self.net, self.tagger)


def tag_catalog(
    ws: Workspace,
    *,
    model: str | None = None,
    batch_size: int = 32,
    overwrite: bool = False,
    progress: bool = True,
) -> Any:
    """Write the ``tags`` text of every clip with the workspace tagger ``models/<model>`` (default ``tagger``).

    Resumable: clips that hold a ``tags`` text from this tagger are skipped (unless ``overwrite``); a clip whose
    frames cannot be read is reported in the summary and the rest goes on.

    Returns:
        The runner's ``RunSummary``.

    Raises:
        FileNotFoundError: no catalog, fine captioner or tagger. ValueError: a bad batch size, or a tagger of
            another captioner.
    """
    from adsearch.captioner import CaptionFrames, caption_items, generated_texts
    from indexer.catalog import open_catalog
    from indexer.stage import ClipStage, from_texts, run_stage, to_texts

    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    net, tagger = load_workspace_tagger(ws, model)
    items = caption_items(ws, None)
    done = set() if overwrite else set(generated_texts(ws, TAGS_KIND, tagger.model_id))
    stage = ClipStage(
        desc="tag attributes",
        read=CaptionFrames(net.num_frames, net.image_size),
        load=_TagModel(net, tagger),
        to_columns=to_texts,
        from_columns=from_texts,
    )
    with open_catalog(ws.catalog_path) as cat:

        def write(batch: Sequence[Any], texts: Sequence[str]) -> None:
            cat.upsert_texts((it.clip_id, TAGS_KIND, t, tagger.model_id) for it, t in zip(batch, texts, strict=True))

        return run_stage(stage, items, done=done, write=write, batch_size=batch_size, progress=progress)


# ---------------------------------------------------------------------------------------------------------------
# training (``adsearch pretrain --tagger``)


def plan_attributes(ws: Workspace, catalog_id: str, n_clips: int, seed: int, avoid: tuple[int, int] | None) -> dict:
    """clip id -> its ground-truth attributes, for a synthetic catalog ingested as ``catalog_id`` and generated with
    (``n_clips``, ``seed``, ``avoid``): the plan is drawn again (deterministic) and mapped by (video uri, shot)."""
    from corpus.synth.catalog import build_records
    from corpus.synth.plan import plan_catalog
    from corpus.synth.queries import clip_attributes
    from indexer.catalog import open_catalog

    plan = plan_catalog(n_clips, seed=seed, avoid=plan_catalog(avoid[0], seed=avoid[1]) if avoid else None)
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.con.execute(
            "SELECT v.uri, c.shot_index, c.clip_id, v.width, v.height FROM clips c JOIN videos v USING (video_id) "
            "WHERE v.catalog_id = ? AND v.status = 'ok'",
            [catalog_id],
        ).fetchall()
    if not rows:
        raise ValueError(f"no ingested clip in catalog {catalog_id!r}")
    clip_of = {(uri, int(k)): int(cid) for uri, k, cid, _, _ in rows}
    width, height = rows[0][3], rows[0][4]  # the size it was rendered at: part of every video's uri
    out = {}
    for video, record in zip(plan.videos, build_records(plan, width, height), strict=True):
        for k, shot in enumerate(video.shots):
            cid = clip_of.get((record.uri, k))
            if cid is not None:
                out[cid] = clip_attributes(shot)
    if not out:
        raise ValueError(f"no clip of catalog {catalog_id!r} matches the plan of ({n_clips} clips, seed {seed})")
    return out


def _features(ws: Workspace, net: Any, items: list, progress: bool) -> tuple[list, Any, Any]:
    from captioner import load_frames
    from captioner.train import frozen_features

    return frozen_features(net, items, lambda it: load_frames(net, it), str(ws.root / "cache" / "captioner"), progress)


def _scores(tagger: Any, hidden: Any, video: Any, truth: Sequence[frozenset]) -> dict[str, Any]:
    """Micro precision / recall of the decoded attributes, and per single-valued type the accuracy of the decoded
    value on clips that have that type."""
    from captioner.attribute_text import SINGLE_VALUED, decode_attributes

    vocab = set(tagger.vocabulary)
    probs = tagger.probabilities(hidden.float(), video).numpy()
    tp = n_pred = n_true = 0
    per_type: dict[str, list[int]] = {}
    for p, gold in zip(probs, truth, strict=True):
        pred, gold = set(decode_attributes(p, tagger.vocabulary)), {a for a in gold if a in vocab}
        tp, n_pred, n_true = tp + len(pred & gold), n_pred + len(pred), n_true + len(gold)
        for a in gold:
            if a[0] in SINGLE_VALUED:
                per_type.setdefault(a[0], []).append(int(a in pred))
    return {
        "clips": len(truth),
        "precision": round(100 * tp / max(1, n_pred), 1),
        "recall": round(100 * tp / max(1, n_true), 1),
        "type_accuracy": {t: round(100 * sum(v) / len(v), 1) for t, v in sorted(per_type.items())},
    }


def pretrain_tagger(
    ws: Workspace,
    tag: str = DEFAULT_PRETRAINED_TAG,
    *,
    epochs: int = TAGGER_EPOCHS,
    min_count: int = 20,
    export: bool = True,
    dest_root: str | Path | None = None,
    captioner_root: str | Path | None = None,
    recipe: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the tagger of ``tag`` on its pretraining catalogs (the clips its captioners trained on, on the frozen
    inputs of its shipped fine captioner; features come from the captioners' cache), score it on the default
    catalog's test split, save it as ``models/tagger-<tag>`` and, with ``export``, ship it to
    ``captioner/pretrained_taggers/tagger-<tag>/`` with a model card. Returns the config.json written.

    ``min_count``: clips an attribute must be on to be in the vocabulary; ``captioner_root``: where the tag's
    shipped captioners are (default the package's); ``recipe``: the tag's (default its registered recipe).

    Raises:
        ValueError: the captioners of ``tag`` are not shipped, or the workspace holds no pretraining data.
    """
    from adsearch.captioner import caption_items, load_trained_captioner
    from adsearch.pretrain import EVAL_CATALOG, _catalog_id, _git_commit, _recipe
    from adsearch.pretrain_captioners import _checkpoint, install_pretrained_captioner, shipped_retriever
    from captioner.tagger import WEIGHTS_ROOT, fit_tagger, load_tagger, save_tagger
    from captioner.train import frozen_inputs_key

    recipe = recipe or _recipe(tag)
    retriever = shipped_retriever(recipe, tag)
    shipped = f"{_checkpoint(tag, 'fine')}-shipped"
    installed, _ = install_pretrained_captioner(
        ws, "fine", tag, retriever=retriever, model=shipped, root=captioner_root
    )
    net = load_trained_captioner(ws, "fine", installed.name, retriever=retriever)
    labels: dict[int, frozenset] = {}
    for seed in recipe.seeds:
        labels.update(plan_attributes(ws, _catalog_id(seed), recipe.clips_per_catalog, seed, recipe.avoid))
    catalogs = {_catalog_id(s) for s in recipe.seeds}
    items = [it for it in caption_items(ws, ["train", "val", "test"], catalogs=catalogs) if it.clip_id in labels]
    start = time.perf_counter()
    kept, hidden, video = _features(ws, net, items, progress)
    tagger, log = fit_tagger(
        hidden,
        video,
        [labels[it.clip_id] for it in kept],
        min_count=min_count,
        epochs=epochs,
        inputs_id=frozen_inputs_key(net),
        progress=progress,
    )
    seconds = time.perf_counter() - start
    del hidden, video
    truth = plan_attributes(ws, EVAL_CATALOG, *recipe.avoid, None)
    test = [it for it in caption_items(ws, ["test"], catalogs={EVAL_CATALOG}) if it.clip_id in truth]
    t_kept, t_hidden, t_video = _features(ws, net, test, progress)
    info = {
        "tag": tag,
        "commit": _git_commit(),
        "captioner_model_id": net.model_id,
        "training": {
            "seeds": list(recipe.seeds),
            "avoid": list(recipe.avoid),
            "train_clips": len(kept),
            "epochs": epochs,
            "seconds": round(seconds, 1),
            "log": log,
        },
        "metrics": {"default_catalog_test": _scores(tagger, t_hidden, t_video, [truth[it.clip_id] for it in t_kept])},
    }
    save_tagger(tagger, ws.models_dir / f"{TAGGER}-{tag}", info)
    if export:
        dest = Path(dest_root or WEIGHTS_ROOT) / f"tagger-{tag}"
        save_tagger(tagger, dest, info)
        assert load_tagger(dest).model_id == tagger.model_id
        (dest / "MODEL_CARD.md").write_text(_model_card(tagger, info), encoding="utf-8")
    return {"model_id": tagger.model_id, **info}


def _model_card(tagger: Any, info: dict[str, Any]) -> str:
    m = info["metrics"]["default_catalog_test"]
    t = info["training"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in m["type_accuracy"].items())
    return f"""# Attribute tagger `{info["tag"]}` ({tagger.model_id})

A multi-label head (`captioner.tagger.AttributeTagger`) on the frozen inputs of the shipped fine captioner
`{info["captioner_model_id"]}` (its ViT tokens and video embedding, frozen-inputs id `{tagger.inputs_id}`):
{len(tagger.vocabulary)} attributes of the synthetic ad catalog (`corpus.synth.queries.clip_attributes`; brands
are left to OCR). `adsearch tag` writes each clip's decoded attributes as a `tags` text
(`captioner.attribute_text`), which the description channel indexes.

- Trained by `adsearch --workspace WS pretrain --tag {info["tag"]} --tagger` (commit {info["commit"]}), on
  {t["train_clips"]:,} clips of the pretraining catalogs (seeds {t["seeds"][0]}-{t["seeds"][-1]}; labels from the
  generator's plans; the default catalog ({t["avoid"][0]} clips, seed {t["avoid"][1]}) never seen),
  {t["epochs"]} epochs, {t["seconds"]:.0f} s on 2 CPU cores (features from the captioners' cache).
- Final training loss {t["log"][-1]["loss"]:.4f}; the per-epoch log is in `config.json`.

Default catalog, test split ({m["clips"]} clips): decoded attributes precision {m["precision"]} %, recall
{m["recall"]} %. Accuracy of the decoded value per single-valued type (clips that have the type):

| type | accuracy % |
|---|---|
{rows}
"""
