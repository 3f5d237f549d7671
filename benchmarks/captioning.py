"""Caption quality of the trained captioners (the paper's Table 4), their ablations (Tables 5 and 7), and the
retrieval check (generated descriptions as text->video queries, Table 8's rows).

    python -m benchmarks.captioning --workspace workspace [--split test] [--ablation --ablation-epochs 3]
        [--judge retriever-judge]

Table 4: the general captioner is scored against the catalog's general captions and the SVAD-VLM fine captioner
against the reference descriptions, each on ``--split``: BLEU-1, BLEU-4, CIDEr, ROUGE-L (x100, see
``captioner.metrics``) and mean words per caption. Captions come from the catalog when ``adsearch caption`` wrote
them for that checkpoint's model id; the missing ones are generated and written there the same way.

Retrieval check: the reference descriptions, the generated fine descriptions and the generated general captions
of the split as queries over the split's clips, with the trained retriever (R@1/5/10, MdR, MnR). The fine
captioner reranks sampled descriptions with that same retriever (``captioner.rerank``), which partly fits them to
it; ``--judge NAME`` repeats the check with another, independently trained retriever ``models/NAME`` that played
no part in captioning.

``--ablation`` trains the tiny fine captioner with PKG on/off (Table 5) and mixed data / dual alignment on/off
(Table 7) for ``--ablation-epochs`` each, under ``models/captioner-ablation-<variant>`` (an existing one is
resumed, so a second run trains nothing), and scores them like Table 4 without writing their captions to the
catalog. Writes ``captioning.json`` and ``captioning.md`` under ``--out`` (default ``<workspace>/bench``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_RETRIEVER
from benchmarks._report import Column, markdown_table, write_report

__all__ = ["ABLATIONS", "main", "score_captions"]

# (row label, kind, task the captioner is scored on, catalog annotation it is scored against)
TABLE4_ROWS = (
    ("general captioner (BLIP-2-style)", "general", "general captions"),
    ("SVAD-VLM fine captioner", "fine", "reference descriptions"),
)
# Ablation variants of the fine captioner: name -> (table, CaptionTrainConfig switches)
ABLATIONS: dict[str, tuple[str, dict[str, bool]]] = {
    "full": ("5, 7", {"use_pkg": True, "mixed": True, "dual_alignment": True}),
    "no-pkg": ("5", {"use_pkg": False, "mixed": True, "dual_alignment": True}),
    "no-mixed": ("7", {"use_pkg": True, "mixed": False, "dual_alignment": False}),
    "single-alignment": ("7", {"use_pkg": True, "mixed": True, "dual_alignment": False}),
}
METRIC_COLUMNS: list[Column] = [
    ("n", lambda r: r["n"]),
    ("BLEU-1", lambda r: round(r["BLEU-1"], 1)),
    ("BLEU-4", lambda r: round(r["BLEU-4"], 1)),
    ("CIDEr", lambda r: round(r["CIDEr"], 1)),
    ("ROUGE-L", lambda r: round(r["ROUGE-L"], 1)),
    ("words", lambda r: round(r["words"], 1)),
    ("reference words", lambda r: round(r["reference_words"], 1)),
]


def score_captions(predictions: dict[int, str], references: dict[int, str]) -> dict[str, Any]:
    """Table 4 metrics of ``predictions`` against one reference text per clip (clips without a reference are
    left out), with mean words of both sides."""
    from captioner.metrics import caption_metrics, mean_words

    ids = [k for k in predictions if references.get(k)]
    if not ids:
        raise ValueError("no generated caption has a reference text to be scored against")
    metrics = caption_metrics({k: predictions[k] for k in ids}, {k: [references[k]] for k in ids})
    return {
        "n": len(ids),
        **metrics,
        "words": mean_words(predictions[k] for k in ids),
        "reference_words": mean_words(references[k] for k in ids),
    }


def _references(items: Sequence[Any], kind: str) -> dict[int, str]:
    field = "reference" if kind == "fine" else "general"
    return {it.clip_id: getattr(it, field) for it in items if getattr(it, field)}


def _table4(ws: Any, split: str, items: Sequence[Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    from adsearch.captioner import caption_catalog, generated_texts, load_trained_captioner

    rows = []
    for label, kind, task in TABLE4_ROWS:
        model_id = load_trained_captioner(ws, kind).model_id
        summary = caption_catalog(
            ws,
            kind,
            split=split,
            num_beams=args.beams,
            max_new_tokens=args.max_new_tokens,
            samples=args.samples,
            batch_size=args.batch_size,
        )
        predictions = generated_texts(ws, kind, model_id, [it.clip_id for it in items])
        row = {"model": label, "kind": kind, "model_id": model_id, "scored against": task}
        row |= score_captions(predictions, _references(items, kind))
        rows.append(row | {"generated_now": summary.done, "failed": summary.failed})
    return rows


def _retrieval(ws: Any, items: Sequence[Any], table4: Sequence[dict[str, Any]], retriever: str) -> dict[str, Any]:
    from adsearch.captioner import generated_texts
    from retrieval import ClipItem, evaluate_retrieval, load_checkpoint, read_checkpoint_meta

    directory = ws.models_dir / retriever
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"no retriever at {directory}: run `adsearch train-retriever` or pass --no-retrieval")
    net = load_checkpoint(directory)
    generated = {r["kind"]: generated_texts(ws, r["kind"], r["model_id"]) for r in table4}
    queries = {"reference descriptions": _references(items, "fine")}
    queries["generated fine descriptions"] = generated["fine"]
    queries["generated general captions"] = generated["general"]
    gallery = [
        ClipItem(
            clip_id=it.clip_id,
            path=it.path,
            start_s=it.start_s,
            end_s=it.end_s,
            texts={q: [texts[it.clip_id]] for q, texts in queries.items() if it.clip_id in texts},
        )
        for it in items
    ]
    metrics = evaluate_retrieval(net, gallery, query_kinds=list(queries), progress=True)
    ref_r1 = metrics["reference descriptions"]["R@1"]
    fine_r1 = metrics.get("generated fine descriptions", {}).get("R@1", 0.0)
    return {
        "retriever": read_checkpoint_meta(directory)["model_id"],
        "rows": [{"queries": q, **m} for q, m in metrics.items()],
        "fine_over_reference_R@1": fine_r1 / ref_r1 if ref_r1 else None,
    }


def _ablation(ws: Any, split: str, items: Sequence[Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    from adsearch.captioner import captioner_dir, load_trained_captioner, run_captioner, train_captioner_from_catalog

    refs = _references(items, "fine")
    rows = []
    for variant, (table, switches) in ABLATIONS.items():
        name = f"captioner-ablation-{variant}"
        resume = (captioner_dir(ws, "fine", name) / "config.json").is_file()
        run = train_captioner_from_catalog(
            ws, kind="fine", model=name, epochs=args.ablation_epochs, resume=resume, **switches
        )
        net = load_trained_captioner(ws, "fine", name)
        predictions: dict[int, str] = {}

        def keep(batch: Sequence[Any], captions: Sequence[str], out: dict[int, str] = predictions) -> None:
            out.update((it.clip_id, c) for it, c in zip(batch, captions, strict=True))

        run_captioner(
            net,
            items,
            write=keep,
            num_beams=args.beams,
            max_new_tokens=args.max_new_tokens,
            samples=args.samples,
            batch_size=args.batch_size,
        )
        row = {"variant": variant, "table": table, **switches, "model_id": run.model_id, "train_s": run.seconds}
        rows.append(row | score_captions(predictions, refs))
    return rows


def _tables(result: dict[str, Any]) -> str:
    mark = {True: "✓", False: "✗"}
    parts = [
        f"Table 4: captioning on split {result['split']} (scores x100; each row against its own task's texts)",
        markdown_table(result["table4"], [("model", lambda r: r["model"]), *METRIC_COLUMNS]),
    ]
    for ret in [result.get("retrieval"), *result.get("judges", [])]:
        if not ret:
            continue
        ratio = ret["fine_over_reference_R@1"]
        role = "the captioner's retriever" if ret is result.get("retrieval") else "judge, not used in captioning"
        parts += [
            f"\nRetrieval check: queries over the {result['split']} split, retriever {ret['retriever']} ({role})",
            markdown_table(
                ret["rows"],
                [
                    ("queries", lambda r: r["queries"]),
                    ("n", lambda r: int(r["n_queries"])),
                    *[(k, lambda r, k=k: round(r[k], 1)) for k in ("R@1", "R@5", "R@10", "MdR", "MnR")],
                ],
            ),
            f"generated fine R@1 / reference R@1 = {ratio:.3f}" if ratio is not None else "",
        ]
    if result.get("ablation"):
        switch_cols: list[Column] = [(k, lambda r, k=k: mark[r[k]]) for k in ("use_pkg", "mixed", "dual_alignment")]
        parts += [
            f"\nTables 5 and 7: fine-captioner ablations, {result['ablation_epochs']} epoch(s) each",
            markdown_table(
                result["ablation"],
                [("variant", lambda r: r["variant"]), ("table", lambda r: r["table"]), *switch_cols, *METRIC_COLUMNS],
            ),
        ]
    return "\n".join(p for p in parts if p)


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from adsearch.captioner import caption_items
    from adsearch.workspace import Workspace

    p = argparse.ArgumentParser(prog="python -m benchmarks.captioning", description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", default=None, help="workspace with the catalog and trained captioners")
    p.add_argument("--split", default="test", help="split to caption and score (default %(default)s)")
    p.add_argument("--beams", type=int, default=1, help="beam width; 1 is greedy decoding (default %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="caption length cap (default: each model's)")
    p.add_argument(
        "--samples", type=int, default=None, help="sampled descriptions reranked per clip (default: each model's)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="clips per generation batch (default %(default)s)")
    p.add_argument("--retriever", default=DEFAULT_RETRIEVER, help="retriever for the check (default %(default)s)")
    p.add_argument("--no-retrieval", action="store_true", help="skip the retrieval check")
    p.add_argument(
        "--judge",
        action="append",
        default=[],
        help="another retriever under models/ to repeat the retrieval check with (repeatable)",
    )
    p.add_argument("--ablation", action="store_true", help="also train and score the Table 5 / 7 variants")
    p.add_argument("--ablation-epochs", type=int, default=3, help="epochs per ablation variant (default %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default: <workspace>/bench)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local paths; a hub look-up would only fail

    ws = Workspace.resolve(args.workspace)
    t0 = time.perf_counter()
    try:
        items = caption_items(ws, [args.split])
        result: dict[str, Any] = {"workspace": str(ws.root), "split": args.split, "beams": args.beams}
        result["table4"] = _table4(ws, args.split, items, args)
        if not args.no_retrieval:
            result["retrieval"] = _retrieval(ws, items, result["table4"], args.retriever)
            result["judges"] = [_retrieval(ws, items, result["table4"], name) for name in args.judge]
        if args.ablation:
            result["ablation_epochs"] = args.ablation_epochs
            result["ablation"] = _ablation(ws, args.split, items, args)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks.captioning: error: {e}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.perf_counter() - t0, 1)
    table = _tables(result)
    print(table)
    json_path, _ = write_report(Path(args.out) if args.out else ws.bench_dir, "captioning", result, table)
    print(f"wrote {json_path} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
