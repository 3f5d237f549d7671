"""The ``adsearch`` command line: a thin layer that parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from adsearch import cli_app, cli_asr, cli_caption, cli_index, cli_ocr
from adsearch.cli_options import add_checkpoint_option, add_renamed_option, retriever_configs
from adsearch.defaults import DEFAULT_PRETRAINED_TAG, DEFAULT_RETRIEVER_CONFIG
from adsearch.workspace import ENV_VAR, Workspace

__all__ = ["build_parser", "main"]

DEFAULT_SYNTH_CLIPS = 1500  # >= 1,000 train clips and >= 200 test clips with the default split shares
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _ws(args: argparse.Namespace) -> Workspace:
    return Workspace.resolve(args.workspace)


def cmd_synth(args: argparse.Namespace) -> int:
    from corpus.synth import catalog_stats, format_stats, generate_catalog

    ws = _ws(args)
    out = args.out or ws.synth_dir(args.clips, args.seed)
    result = generate_catalog(out, n_clips=args.clips, seed=args.seed, workers=args.workers, progress=True)
    print(f"synth: {result.n_videos} videos, {result.n_clips} clips in {result.seconds:.1f} s")
    print(f"manifest: {result.manifest_path}")
    if args.stats:
        print(format_stats(catalog_stats(result.manifest_path, split=args.stats_split)))
    return 0


def _ingest_options(args: argparse.Namespace, ws: Workspace):
    from indexer.ingest import IngestOptions

    return IngestOptions(
        thumbs_dir=ws.thumbs_dir,
        thumbs_relative_to=ws.root,
        asr=not args.no_asr,
        asr_model=args.asr_model,
        retry_failed=args.retry_failed,
        workers=args.workers,
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from indexer.catalog import open_catalog
    from indexer.ingest import ingest

    ws = _ws(args)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(args.source, cat, opts=_ingest_options(args, ws), catalog_id=args.catalog, progress=True)
    for uri, row, err in summary.failures:
        print(f"  failed: row {row} {uri or '(no uri)'}: {err}", file=sys.stderr)
    print(summary.line())
    if not args.no_ocr:
        cli_ocr.ocr_after_ingest(ws)
    return 0


def _format_counts(title: str, counts: dict) -> list[str]:
    lines = [f"{title}:"]
    lines += [f"  {k:<32} {v:>8}" for k, v in counts.items()] or ["  (none)"]
    return lines


def cmd_catalog_stats(args: argparse.Namespace) -> int:
    from indexer.catalog import open_catalog

    ws = _ws(args)
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        stats = cat.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    lines = [f"catalog {ws.catalog_path}", f"clips (ok videos): {stats['clips']}"]
    for key in (
        "catalogs",
        "videos_by_status",
        "clips_by_split",
        "videos_by_industry",
        "videos_by_product",
        "videos_by_game",
        "texts_by_kind",
    ):
        lines += _format_counts(key.replace("_", " "), stats[key])
    lines.append(f"fragmented videos: {stats['fragmented_videos']}")
    if stats["failed"]:
        lines.append("failed videos:")
        lines += [f"  row {f['row']} {f['uri'] or '(no uri)'}: {f['error']}" for f in stats["failed"]]
    print("\n".join(lines))
    return 0


def cmd_train_retriever(args: argparse.Namespace) -> int:
    from adsearch.retriever import format_metrics, train_from_catalog

    run = train_from_catalog(
        _ws(args),
        config=args.config,
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        device=args.device,
        pretrained=args.pretrained,
    )
    print(format_metrics(run.metrics))
    print(f"train-retriever: {run.model_id} in {run.seconds:.1f} s -> {run.checkpoint_dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from adsearch.demo import run_demo

    return run_demo(
        _ws(args),
        n_clips=args.clips,
        seed=args.seed,
        workers=args.workers,
        serve=not args.no_serve,
        host=args.host,
        port=args.port,
        ocr=not args.no_ocr,
        from_scratch=args.from_scratch,
    )


def cmd_pretrain(args: argparse.Namespace) -> int:
    from adsearch.pretrain import run_cli

    return run_cli(
        _ws(args),
        args.tag,
        export=args.export,
        workers=args.workers,
        epochs=args.epochs,
        captioners=args.captioners,
        tagger=args.tagger,
    )


def _global_options(p: argparse.ArgumentParser, *, after_command: bool) -> None:
    """--workspace and -v. After a command name they default to SUPPRESS, so an option given before the command
    stays unless repeated after it; -v counts there into ``verbose_after`` (added to ``verbose`` by ``main``)."""
    p.add_argument(
        "--workspace",
        default=argparse.SUPPRESS if after_command else None,
        help=f"workspace folder (default: ${ENV_VAR} or ./workspace)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbose_after" if after_command else "verbose",
        default=argparse.SUPPRESS if after_command else 0,
        help="more log output (-v info, -vv debug and the traceback of an error)",
    )


class _CommandParser(argparse.ArgumentParser):
    """The parser of every (sub-)command: takes the global options too, before or after the command name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _global_options(self, after_command=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adsearch", description="Fine-grained text-to-video search for short ad videos.")
    _global_options(p, after_command=False)
    # parser_class: every command's parser (and its sub-commands' parsers) accepts --workspace and -v as well
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser)

    s = sub.add_parser("synth", help="generate the synthetic ad catalog (videos + manifest)")
    s.add_argument("--clips", type=int, default=DEFAULT_SYNTH_CLIPS, help="number of clips (default %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    s.add_argument("--out", default=None, help="output folder (default: <workspace>/catalogs/synth-<clips>-s<seed>)")
    s.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="render processes (default %(default)s)")
    s.add_argument("--stats", action="store_true", help="print the catalog's description/caption statistics")
    s.add_argument("--stats-split", default="test", help="split the statistics are computed on (default %(default)s)")
    s.set_defaults(func=cmd_synth)

    i = sub.add_parser("ingest", help="ingest a manifest or a folder of videos into the catalog")
    i.add_argument("source", help="manifest (.jsonl/.csv/.parquet) or folder of videos")
    i.add_argument("--catalog", default=None, help="catalog name (default: the source folder's name)")
    i.add_argument("--no-asr", action="store_true", help="do not transcribe videos that have no transcript")
    i.add_argument("--no-ocr", action="store_true", help="do not read the clips' on-screen text (see adsearch ocr)")
    i.add_argument("--asr-model", default=None, help="faster-whisper model path or size (default: packaged tiny.en)")
    i.add_argument("--retry-failed", action="store_true", help="process again rows an earlier run recorded as failed")
    i.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="worker processes (default %(default)s)")
    i.set_defaults(func=cmd_ingest)

    c = sub.add_parser("catalog", help="inspect the catalog")
    csub = c.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    cs = csub.add_parser("stats", help="counts by status, split, label and text kind")
    cs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cs.set_defaults(func=cmd_catalog_stats, decodes=False)

    t = sub.add_parser("train-retriever", help="train the CLIP-ViP retriever on the catalog's train split")
    t.add_argument(
        "--config",
        default=DEFAULT_RETRIEVER_CONFIG,
        help="architecture config (default %(default)s; see retrieval.list_models())",
    )
    add_checkpoint_option(
        t,
        default=None,
        help="checkpoint folder under <workspace>/models it trains into (default retriever-CONFIG)",
        configs=retriever_configs,
    )
    add_renamed_option(t, "--name", "--model FOLDER (the checkpoint folder)")
    t.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's recipe)")
    t.add_argument("--batch-size", type=int, default=None, help="clips per step (default: the config's recipe)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the config's recipe)")
    t.add_argument("--resume", action="store_true", help="continue the run in the checkpoint folder")
    t.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    t.add_argument(
        "--pretrained",
        default=None,
        help=f"fine-tune from a shipped tag (e.g. {DEFAULT_PRETRAINED_TAG}) instead of random weights",
    )
    t.set_defaults(func=cmd_train_retriever)

    pt = sub.add_parser("pretrain", help="train (resumable) or --export the retriever behind a pretrained tag")
    pt.add_argument(
        "--tag", default=DEFAULT_PRETRAINED_TAG, help="pretrained tag (default %(default)s; adsearch/pretrain.py)"
    )
    pt.add_argument("--epochs", type=int, default=None, help="epochs (default: the tag's recipe)")
    pt.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="render/ingest processes")
    pt.add_argument("--export", action="store_true", help="write the trained weights + model card into the package")
    pt.add_argument(
        "--captioners",
        action="store_true",
        help="the tag's fine and general captioners (after its retriever is exported) instead of the retriever",
    )
    pt.add_argument(
        "--tagger",
        action="store_true",
        help="the tag's attribute tagger (after its captioners are exported; --export ships it as well)",
    )
    pt.set_defaults(func=cmd_pretrain)

    d = sub.add_parser("demo", help="run the whole pipeline on the embedded synthetic catalog, then serve the app")
    d.add_argument("--clips", type=int, default=DEFAULT_SYNTH_CLIPS, help="catalog size (default %(default)s)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    d.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="worker processes (default %(default)s)")
    d.add_argument("--no-serve", action="store_true", help="stop after the recall table instead of serving the app")
    d.add_argument("--host", default="127.0.0.1", help="interface the app listens on (default %(default)s)")
    d.add_argument("--port", type=int, default=7860, help="port of the app (default %(default)s)")
    d.add_argument("--no-ocr", action="store_true", help="skip reading the clips' on-screen text (adsearch ocr)")
    d.add_argument(
        "--from-scratch",
        action="store_true",
        help=f"train the retriever and the captioners here instead of using the shipped {DEFAULT_PRETRAINED_TAG}",
    )
    d.set_defaults(func=cmd_demo)

    # one module per stage group, each owns its commands
    for module in (cli_index, cli_caption, cli_app, cli_ocr, cli_asr):
        module.add_commands(sub)
    return p


def _quiet_ffmpeg(*, verbose: bool) -> None:
    """decord's FFmpeg writes decoder chatter (e.g. 'Invalid NAL unit size') to stderr; failures are reported anyway."""
    if verbose:
        return
    import decord

    decord.logging.set_level(decord.logging.QUIET)


def _is_model_error(e: BaseException) -> bool:
    """A run stopped because its model failed every batch (``indexer.runner.ModelError``). Looked up in
    ``sys.modules``: the command that raised it imported the runner; the CLI does not, to start fast."""
    runner = sys.modules.get("indexer.runner")
    return runner is not None and isinstance(e, runner.ModelError)


def _report_error(args: argparse.Namespace, e: BaseException) -> None:
    """One line on stderr; with -vv the traceback (and its causes) first."""
    if args.verbose >= 2:
        traceback.print_exception(e, file=sys.stderr)
    print(f"adsearch {args.command}: error: {e}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status: 0 done, 1 the run failed (e.g. its model failed every batch, or
    every item failed), 2 a user error (one line; -vv adds the traceback), 130 interrupted. Other exceptions are
    bugs and keep Python's traceback."""
    args = build_parser().parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)  # -v after the command name counts too
    # model weights come from local paths here; a hub look-up would only wait on the network and fail
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Progress lines (media.progress, written instead of tqdm bars when stderr is not a terminal) show by default,
    # as the bars do on a terminal. The logger is named, not imported: importing media would slow every command.
    logging.getLogger("media.progress").setLevel(logging.INFO)
    if getattr(args, "decodes", True):  # commands that read no video (decodes=False) skip importing decord
        _quiet_ffmpeg(verbose=args.verbose >= 2)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (FileNotFoundError, ValueError) as e:  # user errors: one clear line, no stack trace (unless -vv)
        _report_error(args, e)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:
        if not _is_model_error(e):
            raise
        _report_error(args, e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
