"""The app's Catalog tab: add an ad catalog (ingest -> caption -> embed -> index add) and show the index status."""

from __future__ import annotations

import zipfile
from pathlib import Path

from adsearch.workspace import Workspace

__all__ = ["MANIFEST_SUFFIXES", "add_catalog", "index_status_markdown", "source_from_zip"]

MANIFEST_SUFFIXES = (".jsonl", ".csv", ".parquet")


def source_from_zip(zip_path: str | Path, workdir: Path) -> Path:
    """Unpack an uploaded zip into ``workdir``; returns its manifest, or the folder when it holds none.

    Raises:
        ValueError: Not a zip file, or several manifests in it.
    """
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path.name} is not a zip file; upload a .zip of videos with their manifest")
    out = workdir / f"upload-{zip_path.stem}"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(out)  # zipfile drops absolute paths and '..' parts
    manifests = sorted(p for p in out.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file())
    if len(manifests) > 1:
        names = ", ".join(str(p.relative_to(out)) for p in manifests)
        raise ValueError(f"the zip holds several manifests ({names}); keep one")
    return manifests[0] if manifests else out


def _caption_new_clips(ws: Workspace, catalog_id: str) -> list[str]:
    """Caption the catalog's clips with each trained captioner; returns one line per kind."""
    from adsearch.captioner import caption_items, captioner_dir, load_trained_captioner, run_captioner
    from indexer.catalog import open_catalog

    lines = []
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        ids = {
            r["clip_id"]
            for r in cat.query(
                "SELECT c.clip_id FROM clips c JOIN videos v USING (video_id) "
                "WHERE v.catalog_id = ? AND v.status = 'ok'",
                [catalog_id],
            )
        }
    items = [it for it in caption_items(ws, None) if it.clip_id in ids]
    for kind in ("fine", "general"):
        if not (captioner_dir(ws, kind) / "config.json").is_file():
            lines.append(f"caption {kind}: skipped, no trained captioner (`adsearch train-captioner --kind {kind}`)")
            continue
        net = load_trained_captioner(ws, kind)
        with open_catalog(ws.catalog_path) as cat:

            def write(batch, captions, kind=kind, net=net, cat=cat) -> None:
                cat.upsert_texts((it.clip_id, kind, t, net.model_id) for it, t in zip(batch, captions, strict=True))

            summary = run_captioner(net, items, write=write, progress=True)
        lines.append(f"caption {kind}: {summary.line()}")
    return lines


def add_catalog(
    ws: Workspace, *, path: str | None, zip_path: str | None, model: str, workdir: Path, catalog_id: str | None = None
) -> str:
    """Ingest a manifest (or folder, or uploaded zip), caption its clips, embed them and add them to the index.

    Returns:
        A markdown summary, one line per stage.

    Raises:
        ValueError / FileNotFoundError: No source given, a bad source, no retriever checkpoint.
    """
    from adsearch.index import add_catalogs, checkpoint_dir
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    if zip_path:
        source = source_from_zip(zip_path, workdir)
    elif path and path.strip():
        source = Path(path.strip()).expanduser()
        if not source.exists():
            raise FileNotFoundError(f"{source} does not exist; give a manifest path or a folder of videos")
    else:
        raise ValueError("give a manifest path or upload a zip of videos with their manifest")
    checkpoint_dir(ws, model)  # fails early, before ingesting, when there is no retriever
    catalog_id = catalog_id or (source.parent.name if source.is_file() else source.name)

    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=True, workers=1)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(source, cat, opts=opts, catalog_id=catalog_id, progress=True)
    lines = [summary.line(), *_caption_new_clips(ws, catalog_id)]

    embedded, built = add_catalogs(ws, model=model, progress=True)
    lines += [embedded.line(), built.line()]
    return "\n\n".join(f"- {line}" for line in lines)


def index_status_markdown(ws: Workspace, model: str) -> str:
    """The index versions of ``model`` (size, factory, recall@10, published) and what is not indexed yet."""
    from adsearch.index import status

    try:
        st = status(ws, model=model)
    except (FileNotFoundError, ValueError) as e:
        return f"no index status: {e}"
    if not st.versions:
        return f"model `{st.model_id}`: no index yet; run `adsearch embed` then `adsearch index build`"
    lines = [
        f"model `{st.model_id}` · published version `{st.published}` · {st.indexable} searchable clips, "
        f"{st.not_embedded} not embedded, {st.not_indexed} not in the published index",
        "",
        "| version | vectors | factory | recall@10 | created | published |",
        "|---|---|---|---|---|---|",
    ]
    for v in st.versions:
        m, mark = v.meta, "✔" if v.published else ""
        if m is None:
            lines.append(f"| {v.name} | — | unreadable meta.json | — | — | {mark} |")
            continue
        recall = "—" if m.recall_at_10 is None else f"{m.recall_at_10:.3f}"
        lines.append(f"| {v.name} | {m.n} | {m.factory} | {recall} | {m.created_at} | {mark} |")
    return "\n".join(lines)
