"""Training the captioners on the workspace's catalog and captioning its clips (the glue between indexer,
retrieval's trained vision tower and captioner)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_RETRIEVER, captioner_name
from adsearch.retriever import ANNOTATION_SOURCES
from adsearch.workspace import Workspace

__all__ = [
    "CAPTION_KINDS",
    "CaptionFrames",
    "CaptionGenerator",
    "CaptionerRun",
    "caption_catalog",
    "caption_items",
    "captioner_dir",
    "generated_texts",
    "load_trained_captioner",
    "retriever_embedder",
    "retriever_vision",
    "run_captioner",
    "train_captioner_from_catalog",
]

CAPTION_KINDS = ("fine", "general")


def captioner_dir(ws: Workspace, kind: str, model: str | None = None) -> Path:
    """``<workspace>/models/<model>``, by default ``captioner-<kind>``."""
    _check_kind(kind)
    return ws.models_dir / (model or captioner_name(kind))


def _check_kind(kind: str) -> None:
    if kind not in CAPTION_KINDS:
        raise ValueError(f"unknown caption kind {kind!r}; valid: {', '.join(CAPTION_KINDS)}")


def retriever_vision(ws: Workspace, retriever: str = DEFAULT_RETRIEVER) -> tuple[dict[str, Any], dict[str, Any]]:
    """The vision config and vision-tower weights of the trained retriever ``<workspace>/models/<retriever>``.

    Returns:
        ``(vision_config, vision_state_dict)``: the ``config.vision`` dict of the checkpoint's config.json, and
        its ``visual.*`` tensors as a plain ViT's (``captioner.vision_state_from_checkpoint``): the frozen frame
        encoder the captioners are built on.

    Raises:
        FileNotFoundError: no retriever checkpoint there (train one with ``adsearch train-retriever``).
    """
    from safetensors.torch import load_file

    from captioner import vision_state_from_checkpoint
    from retrieval import read_checkpoint_meta

    directory = _retriever_dir(ws, retriever)
    meta = read_checkpoint_meta(directory)
    weights = load_file(str(directory / "model.safetensors"))
    return dict(meta["config"]["vision"]), vision_state_from_checkpoint(weights, prefix="visual.")


def _retriever_dir(ws: Workspace, retriever: str) -> Path:
    """``<workspace>/models/<retriever>``, or FileNotFoundError naming the command that trains it."""
    directory = ws.models_dir / retriever
    if not (directory / "config.json").is_file() or not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"no retriever checkpoint at {directory}; the captioners use its vision tower: "
            f"run `adsearch train-retriever` first (or pass the name of another one under {ws.models_dir})"
        )
    return directory


def retriever_embedder(ws: Workspace, retriever: str = DEFAULT_RETRIEVER, device: str | None = None) -> Any:
    """The trained retriever's video tower as a ``captioner.VideoEmbedder`` (the fine captioner's video prefix).

    Raises:
        FileNotFoundError: no retriever checkpoint there.
    """
    return _video_embedder(_RetrieverVideo(_load_retriever(ws, retriever, device)))


def _load_retriever(ws: Workspace, retriever: str, device: str | None) -> Any:
    import torch

    from retrieval import load_checkpoint

    directory = _retriever_dir(ws, retriever)
    model = load_checkpoint(directory, map_location=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model.eval()


class _RetrieverVideo:
    """The retriever's video embeddings of a batch of frames, shared by the video prefix and the caption scorer.

    ``generate_captions`` hands one frame array to the prefix (first) and then to the scorer: the scorer takes the
    prefix's embeddings of that same array object instead of running the retriever's video tower again.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self._last: tuple[Any, Any] | None = None  # (frames array, its embeddings) of the prefix's latest call

    def for_prefix(self, frames: Any) -> Any:
        embeddings = self._encode(frames)
        self._last = (frames, embeddings)
        return embeddings

    def for_scorer(self, frames: Any) -> Any:
        last, self._last = self._last, None
        return last[1] if last is not None and last[0] is frames else self._encode(frames)

    def _encode(self, frames: Any) -> Any:
        import torch

        with torch.no_grad():
            return self.model.encode_video(self.model.preprocess(frames))  # (B, D), unit length


def _video_embedder(video: _RetrieverVideo) -> Any:
    from captioner import VideoEmbedder

    return VideoEmbedder(video.for_prefix, video.model.model_id, video.model.embed_dim)


def _caption_scorer(video: _RetrieverVideo) -> Any:
    """The retriever as a ``captioner.CaptionScorer``: cosine of a clip's video embedding and each candidate's."""
    import torch

    from captioner import CaptionScorer

    model = video.model

    def score(frames: Any, candidates: list[list[str]]) -> list[Any]:
        clips = video.for_scorer(frames)  # (B, D)
        with torch.no_grad():
            text = model.encode_text([t for c in candidates for t in c])  # (sum of candidates, D)
        sims, start = [], 0
        for i, c in enumerate(candidates):
            sims.append((text[start : start + len(c)] @ clips[i]).float().cpu().numpy())
            start += len(c)
        return sims

    return CaptionScorer(score, model.model_id)


def caption_items(ws: Workspace, splits: Sequence[str] | None, catalogs: Collection[str] | None = None) -> list:
    """The catalog's clips of ``splits`` (None: all; ``catalogs``: only these catalog ids) as
    ``captioner.CaptionItem`` with the catalog's own annotations (reference description, general caption,
    keywords; generated captions are left out).

    Raises:
        FileNotFoundError: no catalog yet.
        ValueError: no clips in these splits.
    """
    from captioner import CaptionItem, parse_keywords
    from indexer.catalog import open_catalog

    _check_catalog(ws)
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.clips_with_texts(splits=splits, text_sources=ANNOTATION_SOURCES)
    if catalogs is not None:
        rows = [r for r in rows if r["catalog_id"] in catalogs]
    if not rows:
        where = f"split(s) {', '.join(splits)}" if splits else "any split"
        raise ValueError(f"the catalog has no clips in {where}; ingest a catalog with splits")
    items = []
    for r in rows:
        texts = r["texts"]
        keywords = [k for t in texts.get("keywords", []) for k in parse_keywords(t) or []]  # ingest joins with "; "
        items.append(
            CaptionItem(
                clip_id=r["clip_id"],
                path=r["path"],
                start_s=r["start_s"],
                end_s=r["end_s"],
                reference=(texts.get("reference") or [None])[0],
                general=(texts.get("general") or [None])[0],
                keywords=keywords or None,
            )
        )
    return items


def _check_catalog(ws: Workspace) -> None:
    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}: run `adsearch ingest` first")


@dataclass(frozen=True)
class CaptionerRun:
    """What ``train_captioner_from_catalog`` produced."""

    checkpoint_dir: Path
    model_id: str
    seconds: float  # wall time of the whole call (reading the catalog, building, training, saving)
    log: list[dict]  # the trainer's per-epoch log


def train_captioner_from_catalog(
    ws: Workspace,
    *,
    kind: str = "fine",
    config: str | None = None,
    model: str | None = None,
    retriever: str = DEFAULT_RETRIEVER,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    items: Sequence[Any] | None = None,
    **ablation: bool,
) -> CaptionerRun:
    """Train a ``kind`` captioner on the catalog's train split, on the frozen vision tower of ``retriever``.

    Args:
        ws: The workspace.
        kind: "fine" (SVAD-VLM descriptions) or "general" (BLIP-2-style captions).
        config: Architecture, a ``captioner.list_models()`` name (default ``captioner.DEFAULT_CONFIGS[kind]``).
        model: Checkpoint folder under ``models/`` it trains into (default captioner-<kind>); the name of a
            registered architecture is refused (pass it as ``config``).
        retriever: Retriever checkpoint folder under ``models/`` whose vision tower is the frame encoder.
        epochs: Override the training recipe's epochs; likewise ``batch_size`` and ``lr``.
        resume: Continue the run in the checkpoint folder.
        device: "cpu", "cuda", ... (default: CUDA when present).
        progress: Show progress bars.
        items: Train on these ``captioner.CaptionItem`` instead of the train split (pretraining picks catalogs).
        **ablation: ``CaptionTrainConfig`` switches: use_pkg, mixed, dual_alignment (Tables 5 and 7).

    Raises:
        FileNotFoundError: no catalog or no retriever checkpoint.
        ValueError: unknown kind or config, a config name as model, no train clips, unknown ablation switch.
    """
    from captioner import (
        DEFAULT_CONFIGS,
        CaptionTrainConfig,
        create_captioner,
        get_model_config,
        list_models,
        train_captioner,
    )

    t0 = time.perf_counter()
    _check_kind(kind)
    config = config or DEFAULT_CONFIGS[kind]
    if config not in list_models():
        raise ValueError(f"unknown captioner config {config!r}; valid: {', '.join(list_models())}")
    if model in list_models():
        raise ValueError(
            f"model names the checkpoint folder under models/, and {model!r} is an architecture config: "
            f"pass config={model!r}"
        )
    unknown = set(ablation) - {"use_pkg", "mixed", "dual_alignment"}
    if unknown:
        raise ValueError(f"unknown training switch(es) {sorted(unknown)}; valid: use_pkg, mixed, dual_alignment")
    items = list(items) if items is not None else caption_items(ws, ["train"])
    vision_config, vision_state = retriever_vision(ws, retriever)
    texts = [t for it in items for t in (it.reference, it.general) if t]
    embedder = retriever_embedder(ws, retriever, device) if get_model_config(config).video_prefix_tokens else None
    net = create_captioner(
        config,
        vision_config=vision_config,
        vision_state_dict=vision_state,
        tokenizer_texts=texts,
        video_embedder=embedder,
    )
    cfg = CaptionTrainConfig(  # None takes the model config's recipe
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        cache_dir=str(ws.root / "cache" / "captioner"),
        **ablation,
    )
    out_dir = captioner_dir(ws, kind, model)
    result = train_captioner(net, items, cfg, out_dir, resume=resume, progress=progress)
    return CaptionerRun(out_dir, result.model_id, time.perf_counter() - t0, result.log)


def load_trained_captioner(
    ws: Workspace, kind: str, model: str | None = None, device: str | None = None, retriever: str = DEFAULT_RETRIEVER
) -> Any:
    """Load the ``kind`` captioner checkpoint of the workspace. The retriever ``models/<retriever>`` is attached as
    its video embedder when the captioner reads video embeddings, and as its caption scorer when its config
    reranks sampled captions (``rerank_samples``).

    Raises:
        FileNotFoundError: no checkpoint there (the message names the command that trains it), or no retriever.
        ValueError: the checkpoint is a captioner of the other kind, or was trained on another retriever.
    """
    from captioner import load_captioner

    directory = captioner_dir(ws, kind, model)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"no {kind} captioner at {directory}: run `adsearch train-captioner --kind {kind}"
            + (f" --model {model}`" if model else "`")
            + " first"
        )
    net = load_captioner(directory, map_location=device or "cpu")
    if net.kind != kind:
        raise ValueError(f"{directory} holds a {net.kind} captioner, not a {kind} one; pass --kind {net.kind}")
    if net.video_prefix is None and not net.config.rerank_samples:
        return net
    video = _RetrieverVideo(_load_retriever(ws, retriever, device or "cpu"))
    if net.video_prefix is not None:
        try:
            net.attach_video_embedder(_video_embedder(video))
        except ValueError as e:
            raise ValueError(f"{e}: `adsearch train-captioner --kind {kind}`") from e
    if net.config.rerank_samples:
        net.attach_caption_scorer(_caption_scorer(video))
    return net


def generated_texts(ws: Workspace, kind: str, model_id: str, clip_ids: Sequence[int] | None = None) -> dict[int, str]:
    """Captions of ``kind`` that captioner ``model_id`` wrote to the catalog, by clip id (optionally only those)."""
    from indexer.catalog import open_catalog

    _check_catalog(ws)
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT clip_id, text FROM texts WHERE kind = ? AND source = ?", [kind, model_id])
    wanted = None if clip_ids is None else set(clip_ids)
    return {r["clip_id"]: r["text"] for r in rows if wanted is None or r["clip_id"] in wanted}


def caption_catalog(
    ws: Workspace,
    kind: str,
    *,
    split: str | None = "test",
    num_beams: int = 1,
    max_new_tokens: int | None = None,
    samples: int | None = None,
    batch_size: int = 16,
    model: str | None = None,
    device: str | None = None,
    progress: bool = True,
    retriever: str = DEFAULT_RETRIEVER,
    overwrite: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
) -> Any:
    """Caption the catalog's clips of ``split`` (None: every split) with the trained ``kind`` captioner
    ``models/<model>`` (default ``captioner-<kind>``).

    Each caption is written as a ``texts`` row ``(clip_id, kind, text, model_id)``, batch by batch, so a killed run
    resumes: clips that already hold a ``kind`` text from this model id are skipped, unless ``overwrite`` (then
    every clip is captioned again and its text from this model id replaced, e.g. with other decoding settings).
    A clip whose frames cannot be read is reported in the summary and the rest goes on. ``retriever`` names the
    retriever checkpoint whose video embeddings a fine captioner with a video prefix reads (the one it was trained
    with); it also scores the candidates when the captioner reranks sampled descriptions (``samples``, default
    the model config's ``rerank_samples``; 0 turns reranking off). ``engine`` "ray" runs the stage on Ray Data
    (``ray_address``: the cluster, default a local Ray): each actor loads the captioner from the workspace.

    Returns:
        The runner's ``RunSummary`` (done, skipped, failed, seconds, failures, ``line()``).

    Raises:
        FileNotFoundError: no catalog, no captioner checkpoint, or no retriever checkpoint.
        ValueError: unknown kind, bad beam count, sample count or batch size, no clips in the split, a fine
            captioner trained on another retriever, an unknown engine, or Ray not installed.
    """
    from adsearch.engines import ray_options
    from indexer.catalog import open_catalog

    _check_kind(kind)
    if num_beams < 1:
        raise ValueError(f"--beams must be >= 1, got {num_beams}")
    if samples is not None and samples < 0:
        raise ValueError(f"--samples must be >= 0, got {samples}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
    net = load_trained_captioner(ws, kind, model, device, retriever)
    ray = ray_options(ws, f"caption-{kind}-{net.model_id}", engine=engine, address=ray_address)
    loader = None
    if ray is not None:  # the actors load the captioner (and its retriever) themselves
        loader = CaptionGenerator(
            kind,
            num_beams,
            max_new_tokens,
            samples,
            ws_root=str(ws.root),
            model=model,
            device=device,
            retriever=retriever,
            model_id=net.model_id,
        )
    items = caption_items(ws, None if split is None else [split])
    done = set() if overwrite else set(generated_texts(ws, kind, net.model_id))

    with open_catalog(ws.catalog_path) as cat:

        def write(batch: Sequence[Any], captions: Sequence[str]) -> None:
            cat.upsert_texts((it.clip_id, kind, text, net.model_id) for it, text in zip(batch, captions, strict=True))

        return run_captioner(
            net,
            items,
            write=write,
            done=done,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            samples=samples,
            batch_size=batch_size,
            progress=progress,
            ray=ray,
            loader=loader,
        )


@dataclass(frozen=True)
class CaptionFrames:
    """The caption stage's reader: ``captioner.load_frames`` with the captioner's frame count and size (all it
    reads of the model), so that it pickles to Ray's decoding tasks without the weights."""

    num_frames: int
    image_size: Any

    def __call__(self, item: Any) -> Any:
        from captioner import load_frames

        return load_frames(self, item)


@dataclass(frozen=True)
class CaptionGenerator:
    """The caption stage's model: ``captioner.generate_captions`` with these decoding settings, on ``net`` when it
    is loaded here (the local runner), else on the ``kind`` captioner ``model`` of the workspace at ``ws_root``
    loaded where the stage runs (a Ray actor: CUDA when present unless ``device``), checked to be ``model_id``."""

    kind: str
    num_beams: int = 1
    max_new_tokens: int | None = None
    samples: int | None = None
    ws_root: str | None = None
    model: str | None = None
    device: str | None = None
    retriever: str = DEFAULT_RETRIEVER
    model_id: str | None = None
    net: Any = None

    def __call__(self) -> Callable[[list], list[str]]:
        from captioner import generate_captions

        net = self.net
        if net is None:
            import torch

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            ws = Workspace.resolve(self.ws_root)
            net = load_trained_captioner(ws, self.kind, self.model, device, self.retriever)
            if self.model_id is not None and net.model_id != self.model_id:
                raise ValueError(f"the {self.kind} captioner is now {net.model_id}, not {self.model_id}")
        settings = {"num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens, "samples": self.samples}
        return functools.partial(generate_captions, net, **settings)


def run_captioner(
    net: Any,
    items: Sequence[Any],
    *,
    write: Callable[[Sequence[Any], Sequence[str]], None],
    done: Collection[int] = (),
    num_beams: int = 1,
    max_new_tokens: int | None = None,
    samples: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
    ray: Any = None,
    loader: CaptionGenerator | None = None,
) -> Any:
    """Caption ``items`` (``CaptionItem``s) with ``net`` through ``indexer.stage.run_stage``: frames are read ahead
    (``CaptionFrames``; reader threads, or Ray tasks when ``ray``, an ``indexer.stage.RayOptions``, is given),
    captions generated per batch (``CaptionGenerator``) and handed to ``write(batch_items, captions)``.

    Args:
        net: A loaded captioner.
        items: Clips to caption.
        write: Called once per batch with the batch's items and their captions, in order.
        done: Clip ids to skip.
        num_beams: Beam width (1: greedy).
        max_new_tokens: Caption length cap in tokens (default: the model config's).
        samples: Sampled alternatives reranked per clip (default: the model config's ``rerank_samples``).
        batch_size: Clips per generation batch.
        progress: Show a progress bar.
        ray: Run on Ray Data with these options.
        loader: The model as the stage loads it (default: ``net`` with these decoding settings; Ray needs one that
            loads from the workspace, see ``CaptionGenerator``).

    Returns:
        The run's ``RunSummary``.
    """
    from indexer.stage import ClipStage, from_texts, run_stage, to_texts

    settings = {"num_beams": num_beams, "max_new_tokens": max_new_tokens, "samples": samples}
    stage = ClipStage(
        desc=f"caption {net.kind}",
        read=CaptionFrames(net.num_frames, net.image_size),
        load=loader or CaptionGenerator(net.kind, **settings, net=net),
        to_columns=to_texts,
        from_columns=from_texts,
    )
    return run_stage(stage, items, done=set(done), write=write, batch_size=batch_size, progress=progress, ray=ray)
