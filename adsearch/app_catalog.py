"""The app's Catalog tab: add an ad catalog (ingest -> caption -> embed -> index add) and show the index status."""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

from adsearch.workspace import Workspace

__all__ = [
    "MANIFEST_SUFFIXES",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
    "add_catalog",
    "index_status_markdown",
    "source_from_zip",
]

MANIFEST_SUFFIXES = (".jsonl", ".csv", ".parquet")
MAX_ZIP_FILES = 2000  # entries in an uploaded zip
MAX_ZIP_BYTES = 2 * 1024**3  # its uncompressed size


def source_from_zip(
    zip_path: str | Path, workdir: Path, *, max_files: int = MAX_ZIP_FILES, max_bytes: int = MAX_ZIP_BYTES
) -> Path:
    """Unpack an uploaded zip into a new folder under ``workdir``; returns its manifest (the one file named
    ``manifest.*``, else the only .jsonl/.csv/.parquet), or the folder when it holds none.

    The zip's directory is checked before anything is written: at most ``max_files`` entries and ``max_bytes``
    uncompressed bytes (zipfile stops reading an entry at its declared size, so a zip bomb cannot exceed it).

    Raises:
        ValueError: Not a zip file, too many entries, too large once unpacked, or several manifests in it.
    """
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path.name} is not a zip file; upload a .zip of videos with their manifest")
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise ValueError(f"the zip holds {len(infos)} entries; the limit is {max_files}")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise ValueError(f"the zip unpacks to {total / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.1f} MiB")
        out = workdir / f"upload-{zip_path.stem[:60]}-{uuid.uuid4().hex[:8]}"
        try:
            zf.extractall(out)  # zipfile drops absolute paths and '..' parts
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:  # RuntimeError: an encrypted entry
            shutil.rmtree(out, ignore_errors=True)
            raise ValueError(f"the zip cannot be unpacked: {e}") from None
    manifests = sorted(p for p in out.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file())
    named = [p for p in manifests if p.stem == "manifest"]  # synth writes side files (user_queries.jsonl, ...)
    if len(named) == 1:
        return named[0]
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
    ws: Workspace,
    *,
    path: str | None,
    zip_path: str | None,
    model: str,
    workdir: Path,
    catalog_id: str | None = None,
    on_stage: Callable[[str, int], None] | None = None,
) -> str:
    """Ingest a manifest (or folder, or uploaded zip), caption its clips, embed them and add them to the index, then
    update the text channels' indexes.

    Paths are not restricted here: ``adsearch.service.SearchService`` checks them against its ingest roots before
    it calls this.

    Args:
        on_stage: Called with (stage name, index of the stage) as each of ingest, caption, embed + index starts.

    Returns:
        A markdown summary, one line per stage.

    Raises:
        ValueError / FileNotFoundError: No source given, a bad source, no retriever checkpoint.
    """
    from adsearch.index import add_catalogs, checkpoint_dir, update_text_indexes
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

    stage = on_stage or (lambda name, index: None)
    stage("ingest", 0)
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=True, workers=1)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(source, cat, opts=opts, catalog_id=catalog_id, progress=True)
    stage("caption", 1)
    lines = [summary.line(), *_caption_new_clips(ws, catalog_id)]

    stage("embed + index", 2)
    embedded, built = add_catalogs(ws, model=model, progress=True)
    lines += [embedded.line(), built.line()]
    # the text channels (descriptions, speech, on-screen text) of the new clips; unchanged channels are kept
    lines += [r.line() for r in update_text_indexes(ws, only_if_changed=True, progress=True)]
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
