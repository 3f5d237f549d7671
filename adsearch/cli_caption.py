"""``adsearch`` commands: train-captioner, caption, tag."""

from __future__ import annotations

import argparse
import sys

from adsearch.cli_options import add_checkpoint_option, add_renamed_option, captioner_configs
from adsearch.defaults import DEFAULT_RETRIEVER
from adsearch.engines import add_engine_args
from adsearch.workspace import Workspace

__all__ = ["add_commands"]

SAMPLE_CLIPS = 3  # test clips captioned after training, to show what the model writes


def cmd_train_captioner(args: argparse.Namespace) -> int:
    from adsearch.captioner import train_captioner_from_catalog

    ws = Workspace.resolve(args.workspace)
    run = train_captioner_from_catalog(
        ws,
        kind=args.kind,
        config=args.config,
        model=args.model,
        retriever=args.retriever,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        device=args.device,
    )
    print(f"train-captioner: {run.model_id} ({args.kind}) in {run.seconds:.1f} s -> {run.checkpoint_dir}")
    for clip_id, reference, generated in _samples(ws, args.kind, args.model, args.device, args.retriever):
        print(f"  clip {clip_id}\n    reference: {reference}\n    generated: {generated}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from adsearch.tagger import install_pretrained_tagger, tag_catalog

    ws = Workspace.resolve(args.workspace)
    if args.install:
        tagger = install_pretrained_tagger(ws, args.install)
        print(
            f"installed the shipped {args.install} attribute tagger ({tagger.model_id}) -> {ws.models_dir / 'tagger'}"
        )
    summary = tag_catalog(ws, model=args.model, batch_size=args.batch_size, overwrite=args.overwrite)
    for clip_id, error in summary.failures:
        print(f"  failed: clip {clip_id}: {error}", file=sys.stderr)
    print(summary.line())
    if summary.failed and not summary.done and not summary.skipped:
        print(f"adsearch tag: error: all {summary.failed} clips failed (see above)", file=sys.stderr)
        return 1
    return 0


def _samples(
    ws: Workspace, kind: str, model: str | None, device: str | None, retriever: str
) -> list[tuple[int, str, str]]:
    """(clip id, annotated text, generated text) for the first few test clips (none when there is no test split)."""
    from adsearch.captioner import caption_items, load_trained_captioner
    from captioner import generate_captions, load_frames

    try:
        items = caption_items(ws, ["test"])[:SAMPLE_CLIPS]
    except ValueError:
        return []
    net = load_trained_captioner(ws, kind, model, device, retriever)
    captions = generate_captions(net, [load_frames(net, it) for it in items])
    refs = [(it.reference if kind == "fine" else it.general) or "(none)" for it in items]
    return [(it.clip_id, ref, cap) for it, ref, cap in zip(items, refs, captions, strict=True)]


def cmd_caption(args: argparse.Namespace) -> int:
    from adsearch.captioner import caption_catalog

    summary = caption_catalog(
        Workspace.resolve(args.workspace),
        args.kind,
        split=None if args.split == "all" else args.split,
        num_beams=args.beams,
        max_new_tokens=args.max_new_tokens,
        samples=args.samples,
        batch_size=args.batch_size,
        model=args.model,
        device=args.device,
        retriever=args.retriever,
        overwrite=args.overwrite,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    for clip_id, error in summary.failures:
        print(f"  failed: clip {clip_id}: {error}", file=sys.stderr)
    print(summary.line())
    if summary.failed and not summary.done and not summary.skipped:  # all failed, none before: a failed run
        print(f"adsearch caption: error: all {summary.failed} clips failed (see above)", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    t = sub.add_parser("train-captioner", help="train the fine-grained or the general captioner on the train split")
    t.add_argument("--kind", choices=("fine", "general"), required=True, help="fine (SVAD-VLM) or general captioner")
    t.add_argument(
        "--config",
        default=None,
        help="architecture config (default tiny-KIND: captioner.DEFAULT_CONFIGS; see captioner.list_models())",
    )
    add_checkpoint_option(
        t,
        default=None,
        help="checkpoint folder under <workspace>/models it trains into (default captioner-KIND)",
        configs=captioner_configs,
    )
    add_renamed_option(t, "--name", "--model FOLDER (the checkpoint folder)")
    t.add_argument(
        "--retriever",
        default=DEFAULT_RETRIEVER,
        help="retriever whose vision tower encodes the frames and, for fine, whose video embedding the captioner "
        "reads (default %(default)s)",
    )
    t.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's recipe)")
    t.add_argument("--batch-size", type=int, default=None, help="clips per step (default: the config's recipe)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the config's recipe)")
    t.add_argument("--resume", action="store_true", help="continue the run in the checkpoint folder")
    t.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    t.set_defaults(func=cmd_train_captioner)

    c = sub.add_parser("caption", help="write generated captions of the catalog's clips as texts (resumable)")
    c.add_argument("--kind", choices=("fine", "general"), required=True, help="which trained captioner writes")
    c.add_argument("--split", default="test", help="split to caption, or 'all' (default %(default)s)")
    c.add_argument("--beams", type=int, default=1, help="beam width; 1 is greedy decoding (default %(default)s)")
    c.add_argument(
        "--samples",
        type=int,
        default=None,
        help="sampled descriptions per clip that the retriever reranks with the greedy one; 0: greedy/beam only "
        "(default: the model's, 16 for tiny-fine)",
    )
    c.add_argument(
        "--overwrite",
        action="store_true",
        help="caption clips that already have a text from this captioner again and replace it (default: skip them)",
    )
    c.add_argument("--max-new-tokens", type=int, default=None, help="caption length cap (default: the model's)")
    c.add_argument("--batch-size", type=int, default=16, help="clips per generation batch (default %(default)s)")
    c.add_argument(
        "--model", default=None, help="captioner checkpoint under <workspace>/models (default captioner-KIND)"
    )
    add_renamed_option(c, "--name", "--model (the captioner checkpoint folder)")
    c.add_argument(
        "--retriever",
        default=DEFAULT_RETRIEVER,
        help="retriever the fine captioner was trained with; it reads its video embeddings and reranks sampled "
        "descriptions (default %(default)s)",
    )
    c.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu)")
    add_engine_args(c)
    c.set_defaults(func=cmd_caption)

    g = sub.add_parser(
        "tag",
        help="write each clip's visual attributes (attribute tagger) as a 'tags' text that search indexes (resumable)",
    )
    g.add_argument(
        "--install", metavar="TAG", default=None, help="first install the shipped tagger of TAG (e.g. synth-v2)"
    )
    g.add_argument("--model", default=None, help="tagger checkpoint under <workspace>/models (default tagger)")
    g.add_argument("--batch-size", type=int, default=32, help="clips per batch (default %(default)s)")
    g.add_argument("--overwrite", action="store_true", help="tag clips that already have tags from this tagger again")
    g.set_defaults(func=cmd_tag)
