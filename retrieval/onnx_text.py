"""The retriever's text side as an ONNX graph, run with onnxruntime: query vectors without importing torch.

A one-shot search spends most of its time starting torch and sentence-transformers (seconds) to encode one query.
For a retriever whose text tower is a sentence-transformers backbone plus a linear projection
(``retrieval.text_towers.SentenceTransformerTower``, the ``tiny`` configs), ``export_text_onnx`` traces that tower
once into ``<checkpoint>/onnx/`` and ``TextOnnx`` runs it with onnxruntime and the ``tokenizers`` fast tokenizer:

    <checkpoint>/onnx/text-<model_id>.onnx             inputs input_ids, attention_mask, token_type_ids (B, L) int64
                                                       outputs query (B, embed_dim): L2-normalised query vectors,
                                                       sentence (B, sentence_dim): the backbone's sentence embedding
    <checkpoint>/onnx/text-<model_id>.tokenizer.json   the backbone's fast tokenizer, as traced
    <checkpoint>/onnx/text-<model_id>.json             TextOnnxMeta: written last, so it commits the export

The files are keyed by the checkpoint's ``model_id``: a retrained checkpoint has another id, so its predecessor's
export is never used (and is deleted by the next export). ``TextOnnx.open`` checks, before any query, that the meta
names the checkpoint's current ``model_id``, that both files have the recorded size and SHA-256, and that the graph
reproduces the probe vectors recorded from torch at export (max abs difference ``PROBE_TOLERANCE``); a stale,
corrupt or drifted export raises ``TextOnnxError`` and ``load_text_onnx`` exports it again. Hashing the 90 MB graph
costs more than a one-shot search can spare, so a successful check leaves ``text-<model_id>.verified``, the files'
(inode, size, mtime, ctime) at that check: while they are unchanged (any write or replace of a file changes its
ctime) the SHA-256 is not computed again. The query output equals
``retrieval.encode_queries`` and the sentence output equals the backbone's ``SentenceTransformer.encode`` within
float32 rounding (about 1e-7 here; the tests hold it under 1e-4).

Importing this module imports neither torch nor onnxruntime; ``export_text_onnx`` needs torch and the ``onnx``
package, ``TextOnnx`` needs ``onnxruntime`` and ``tokenizers``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import read_checkpoint_meta

__all__ = [
    "ONNX_DIR",
    "PROBE_TEXTS",
    "PROBE_TOLERANCE",
    "TextOnnx",
    "TextOnnxError",
    "TextOnnxMeta",
    "export_text_onnx",
    "load_text_onnx",
    "supports_text_onnx",
    "text_onnx_paths",
]

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"  # under the checkpoint folder
_FORMAT = "adsearch-text-onnx"
_VERSION = 1
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUTS = ("query", "sentence")
PROBE_TOLERANCE = 1e-4  # max abs difference between the ONNX graph's probe vectors and torch's
PROBE_TEXTS = (  # encoded by torch at export and by the graph at every open (short: an open stays cheap)
    "a woman in a yellow polka-dot dress dances",
    "  Crème brûlée 50% OFF — BUY NOW!  ",
    "x",
)
_BATCH = 64  # texts per onnxruntime call


class TextOnnxError(ValueError):
    """An ONNX export that must not be used: missing, stale (another model_id), corrupt or drifted."""


@dataclass(frozen=True)
class TextOnnxMeta:
    """What ``text-<model_id>.json`` records about an export."""

    format: str
    version: int
    model_id: str  # the checkpoint's model_id the graph was traced from
    embed_dim: int  # query output size
    sentence_dim: int  # sentence output size
    sentence_model: str  # the backbone (``TextConfig.model``: the packaged alias or a folder)
    max_seq_length: int  # wordpieces kept per text (the backbone's truncation)
    pad_id: int
    pad_token: str
    onnx_bytes: int
    onnx_sha256: str
    tokenizer_sha256: str
    opset: int
    probe_query: list[list[float]]  # torch's query vectors of PROBE_TEXTS
    probe_sentence: list[list[float]]  # torch's sentence vectors of PROBE_TEXTS
    exported_with: dict[str, str]  # package versions of the export

    @classmethod
    def from_json(cls, text: str) -> TextOnnxMeta:
        """Parse the meta file.

        Raises:
            TextOnnxError: not JSON, or not a meta of this format and version.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TextOnnxError(f"meta is not JSON ({e})") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise TextOnnxError(f"meta is not a {_FORMAT} v{_VERSION} record")
        try:
            return cls(**data)
        except TypeError as e:
            raise TextOnnxError(f"meta has unexpected fields ({e})") from None


def text_onnx_paths(checkpoint_dir: str | Path, model_id: str) -> tuple[Path, Path, Path]:
    """``(graph, tokenizer, meta)`` paths of the export of ``model_id`` under ``checkpoint_dir``."""
    base = Path(checkpoint_dir) / ONNX_DIR
    return base / f"text-{model_id}.onnx", base / f"text-{model_id}.tokenizer.json", base / f"text-{model_id}.json"


def supports_text_onnx(config: dict[str, Any]) -> bool:
    """Whether a retriever config (the ``config`` dict of a checkpoint's config.json) has a text tower this module
    exports: a sentence-transformers backbone plus projection. open_clip text towers are not exported."""
    text = config.get("text") or {}
    return isinstance(text, dict) and text.get("tower") == "sentence_transformers"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified_path(meta_path: Path) -> Path:
    return meta_path.with_name(meta_path.name.removesuffix(".json") + ".verified")


def _stamp(meta: TextOnnxMeta, *paths: Path) -> dict[str, Any]:
    """What a check of the files' SHA-256 is valid for: the meta's hashes and each file's identity and times."""
    files = []
    for p in paths:
        st = os.stat(p)
        files.append([p.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return {"onnx_sha256": meta.onnx_sha256, "tokenizer_sha256": meta.tokenizer_sha256, "files": files}


def _was_verified(path: Path, stamp: dict[str, Any]) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")) == stamp
    except (OSError, ValueError):
        return False


def _tokenizer(path_or_json: Path | str, meta: TextOnnxMeta | None = None, **settings: Any):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(path_or_json) if isinstance(path_or_json, str) else Tokenizer.from_file(str(path_or_json))
    s = {k: getattr(meta, k) for k in ("max_seq_length", "pad_id", "pad_token")} if meta is not None else settings
    tok.no_padding()  # _feeds pads each batch
    tok.no_truncation()
    tok.enable_truncation(max_length=int(s["max_seq_length"]), strategy="longest_first")
    return tok


def _feeds(tok, texts: Sequence[str], pad_id: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``(positions, inputs)`` per batch of at most ``_BATCH`` texts, texts of similar length together (less
    padding: one long text does not make a whole batch long), each batch padded to its longest text."""
    enc = tok.encode_batch(list(texts))
    order = np.argsort([len(e.ids) for e in enc], kind="stable")
    for start in range(0, len(order), _BATCH):
        rows = order[start : start + _BATCH]
        width = max(len(enc[i].ids) for i in rows)
        ids = np.full((len(rows), width), pad_id, np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        types = np.zeros((len(rows), width), np.int64)
        for r, i in enumerate(rows):
            n = len(enc[i].ids)
            ids[r, :n], mask[r, :n], types[r, :n] = enc[i].ids, enc[i].attention_mask, enc[i].type_ids
        yield rows, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


class TextOnnx:
    """The exported text side of one retriever checkpoint, run with onnxruntime (thread-safe).

    Build it with ``TextOnnx.open`` (checks the export) or ``load_text_onnx`` (exports when needed).

    Attributes:
        meta: The export's ``TextOnnxMeta`` (``model_id``, ``embed_dim``, ``sentence_dim``, ...).
    """

    def __init__(self, session, tokenizer, meta: TextOnnxMeta) -> None:
        self._session = session
        self._tok = tokenizer
        self.meta = meta
        # Per thread, the outputs of its last one-text run: a search encodes its query for the retriever (query
        # output) and for the text channels (sentence output), one run serves both. Per thread, so searches running
        # in parallel threads do not evict each other's query between those two calls.
        self._local = threading.local()

    @classmethod
    def open(cls, checkpoint_dir: str | Path, *, model_id: str | None = None, threads: int | None = None) -> TextOnnx:
        """Open and check the export of the checkpoint's current ``model_id`` (read from its config.json unless
        given).

        ``threads``: onnxruntime's intra-op threads per run (None: its default, one per core, spinning between
        ops). 1 runs each call on the calling thread without spinning: what a server that runs several searches in
        parallel wants (``adsearch serve``); the vectors are the same.

        Raises:
            TextOnnxError: no export for that model_id, or a file whose size or SHA-256 differs from the meta, or
                probe vectors off by more than ``PROBE_TOLERANCE`` (the message says which).
            ImportError: onnxruntime or tokenizers is not installed.
        """
        if model_id is None:
            model_id = read_checkpoint_meta(checkpoint_dir)["model_id"]
        graph, tok_path, meta_path = text_onnx_paths(checkpoint_dir, model_id)
        if not meta_path.is_file():
            raise TextOnnxError(f"no ONNX text export for {model_id} in {meta_path.parent}")
        meta = TextOnnxMeta.from_json(meta_path.read_text(encoding="utf-8"))
        if meta.model_id != model_id:
            raise TextOnnxError(f"{meta_path} was exported from {meta.model_id}, not {model_id}")
        try:
            stamp = _stamp(meta, graph, tok_path)
            tok_json = tok_path.read_text(encoding="utf-8")
            verified = _verified_path(meta_path)
            source: str | bytes = str(graph)  # unchanged since its last check: onnxruntime reads the file itself
            checked = _was_verified(verified, stamp)
            if not checked:
                source = graph.read_bytes()
                if len(source) != meta.onnx_bytes or _sha256(source) != meta.onnx_sha256:
                    raise TextOnnxError(f"{graph} is corrupt (size or SHA-256 differs from {meta_path.name})")
                if _sha256(tok_json.encode("utf-8")) != meta.tokenizer_sha256:
                    raise TextOnnxError(f"{tok_path} is corrupt (SHA-256 differs from {meta_path.name})")
        except (OSError, UnicodeDecodeError) as e:
            raise TextOnnxError(f"cannot read the ONNX text export: {e}") from None
        import onnxruntime as ort  # after the file checks: a missing export costs no import

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no optimizer chatter on stderr
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            if threads == 1:  # no pool threads spinning after each op, taking a core from the parallel searches
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
            tok = _tokenizer(tok_json, meta)
        except Exception as e:  # onnxruntime raises its own exception types for a graph it cannot load
            raise TextOnnxError(f"cannot load {graph}: {e}") from None
        out = cls(session, tok, meta)
        out._check_probe()
        if not checked:
            with contextlib.suppress(OSError):  # a read-only checkpoint folder: hash again next time
                _atomic_write_bytes(verified, json.dumps(stamp).encode("utf-8"))
        return out

    def _check_probe(self) -> None:
        query, sentence = self._run(PROBE_TEXTS)
        for name, got, want in (
            ("query", query, self.meta.probe_query),
            ("sentence", sentence, self.meta.probe_sentence),
        ):
            want = np.asarray(want, np.float32)
            diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            if not diff <= PROBE_TOLERANCE:
                raise TextOnnxError(
                    f"the ONNX text export of {self.meta.model_id} drifted from torch: {name} probe vectors differ by "
                    f"{diff:.2e} (tolerance {PROBE_TOLERANCE:g}); a tokenizer or runtime change? it is exported again"
                )

    def _run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        last = getattr(self._local, "last", None)
        if len(texts) == 1 and last is not None and last[0] == texts[0]:
            return last[1].copy(), last[2].copy()
        queries = np.zeros((len(texts), self.meta.embed_dim), np.float32)
        sentences = np.zeros((len(texts), self.meta.sentence_dim), np.float32)
        if texts:
            for rows, feeds in _feeds(self._tok, texts, self.meta.pad_id):
                queries[rows], sentences[rows] = self._session.run(list(_OUTPUTS), feeds)
        if len(texts) == 1:
            self._local.last = (texts[0], queries.copy(), sentences.copy())
        return queries, sentences

    @property
    def model_id(self) -> str:
        """The checkpoint's model_id this graph was exported from."""
        return self.meta.model_id

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors (N, embed_dim), float32, L2-normalised: ``retrieval.encode_queries`` without torch.

        Raises:
            ValueError: ``texts`` is a bare string.
        """
        if isinstance(texts, str):
            raise ValueError("encode_queries takes a list of strings, not a single string")
        return self._run(list(texts))[0]

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """The backbone's sentence embeddings (N, sentence_dim), float32, L2-normalised (what
        ``SentenceTransformer.encode(..., normalize_embeddings=True)`` of the backbone gives).

        Raises:
            ValueError: ``texts`` is a bare string.
        """
        if isinstance(texts, str):
            raise ValueError("encode_sentences takes a list of strings, not a single string")
        out = self._run(list(texts))[1]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.maximum(norms, 1e-12), np.float32)

    def sentence_model(self) -> _SentenceModel:
        """The sentence output behind the part of ``SentenceTransformer``'s interface that
        ``indexer.text_index.TextEncoder`` calls (``encode``, ``get_embedding_dimension``): pass it as that
        encoder's ``backbone`` when the retriever's backbone is the text channels' model."""
        return _SentenceModel(self)


class _SentenceModel:
    """``TextOnnx.sentence_model()``: ``encode`` / ``get_embedding_dimension`` like a ``SentenceTransformer``;
    thread-safe (``thread_safe``: ``TextEncoder`` need not serialise its calls)."""

    thread_safe = True

    def __init__(self, onnx: TextOnnx) -> None:
        self._onnx = onnx

    def get_embedding_dimension(self) -> int:
        return self._onnx.meta.sentence_dim

    def encode(self, sentences: Sequence[str], *, normalize_embeddings: bool = False, **_ignored: Any) -> np.ndarray:
        """(N, dim) float32 sentence embeddings (``batch_size``, ``convert_to_numpy``, ``show_progress_bar`` are
        accepted and ignored: the output is always a numpy array)."""
        texts = list(sentences)
        if normalize_embeddings:
            return self._onnx.encode_sentences(texts)
        return self._onnx._run(texts)[1]


# ---------------------------------------------------------------------------------------------------------------
# export (torch)


@contextlib.contextmanager
def _export_lock(directory: Path) -> Iterator[None]:
    """One export at a time per checkpoint (processes too): the others wait, then find it done."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".export.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers", "onnx", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def export_text_onnx(checkpoint_dir: str | Path, model=None) -> Path:
    """Trace the checkpoint's text tower into ``<checkpoint>/onnx/`` (see the module docstring) and check that the
    graph reproduces torch's vectors; earlier exports of other model_ids there are deleted. Returns the meta path.

    Args:
        checkpoint_dir: A retriever checkpoint folder (config.json + model.safetensors), writable.
        model: That checkpoint already loaded (``retrieval.load_checkpoint``), to save loading it again.

    Raises:
        ValueError: the text tower is not a sentence-transformers backbone (open_clip towers are not exported).
        TextOnnxError: the traced graph does not reproduce torch's vectors.
        OSError: the folder is not writable.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from .checkpoint import load_checkpoint

    checkpoint_dir = Path(checkpoint_dir)
    ckpt = read_checkpoint_meta(checkpoint_dir)
    model_id = ckpt["model_id"]
    if not supports_text_onnx(ckpt["config"]):
        raise ValueError(f"{checkpoint_dir}: only sentence-transformers text towers are exported to ONNX")
    graph_path, tok_path, meta_path = text_onnx_paths(checkpoint_dir, model_id)
    with _export_lock(graph_path.parent):
        with contextlib.suppress(TextOnnxError):  # another process exported it while this one waited
            TextOnnx.open(checkpoint_dir, model_id=model_id)
            return meta_path
        net = model if model is not None else load_checkpoint(checkpoint_dir)
        tower = net.text
        backbone, proj = tower.backbone, tower.proj

        class _TextGraph(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.backbone, self.proj = backbone, proj

            def forward(self, input_ids, attention_mask, token_type_ids):
                feats = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
                sentence = self.backbone(feats)["sentence_embedding"]
                return F.normalize(self.proj(sentence.to(self.proj.weight.dtype)), dim=-1), sentence

        hf_tok = backbone[0].tokenizer
        settings = {
            "max_seq_length": int(backbone.max_seq_length),
            "pad_id": int(hf_tok.pad_token_id),
            "pad_token": str(hf_tok.pad_token),
        }
        tok_json = hf_tok.backend_tokenizer.to_str()
        tok = _tokenizer(tok_json, **settings)
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                probe_query = net.encode_text(list(PROBE_TEXTS)).float().cpu().numpy()
                probe_sentence = tower._forward_backbone(list(PROBE_TEXTS), proj.weight.device).float().cpu().numpy()
                # trace with padding in the batch: an all-ones mask may be traced as "no mask"
                _, example = next(
                    _feeds(tok, ["a woman in a red dress dancing on a beach", "hello"], settings["pad_id"])
                )
                args = tuple(torch.from_numpy(example[n]).to(proj.weight.device) for n in _INPUTS)
                dynamic = {n: {0: "batch", 1: "tokens"} for n in _INPUTS} | {n: {0: "batch"} for n in _OUTPUTS}
                tmp = graph_path.with_name(f".tmp-{os.getpid()}-{graph_path.name}")
                try:
                    with warnings.catch_warnings():  # tracer notes on the HF graph's Python branches: not actionable
                        warnings.simplefilter("ignore")
                        torch.onnx.export(
                            _TextGraph().eval(),
                            args,
                            str(tmp),
                            dynamo=False,
                            input_names=list(_INPUTS),
                            output_names=list(_OUTPUTS),
                            dynamic_axes=dynamic,
                            opset_version=_OPSET,
                        )
                    data = tmp.read_bytes()
                finally:
                    tmp.unlink(missing_ok=True)
        finally:
            net.train(was_training)
        meta = TextOnnxMeta(
            format=_FORMAT,
            version=_VERSION,
            model_id=model_id,
            embed_dim=int(probe_query.shape[1]),
            sentence_dim=int(probe_sentence.shape[1]),
            sentence_model=str(ckpt["config"]["text"].get("model")),
            onnx_bytes=len(data),
            onnx_sha256=_sha256(data),
            tokenizer_sha256=_sha256(tok_json.encode("utf-8")),
            opset=_OPSET,
            probe_query=probe_query.tolist(),
            probe_sentence=probe_sentence.tolist(),
            exported_with=_versions(),
            **settings,
        )
        for old in graph_path.parent.glob("text-*"):  # other model_ids' exports: stale forever
            if old.name not in {graph_path.name, tok_path.name, meta_path.name}:
                old.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)  # uncommit the old export before its files change
        _atomic_write_bytes(graph_path, data)
        _atomic_write_bytes(tok_path, tok_json.encode("utf-8"))
        _atomic_write_bytes(meta_path, (json.dumps(asdict(meta)) + "\n").encode("utf-8"))
        try:
            TextOnnx.open(checkpoint_dir, model_id=model_id)  # the probe check, now against the written files
        except TextOnnxError:
            meta_path.unlink(missing_ok=True)
            raise
        logger.info("exported the text tower of %s to %s (%.1f MB)", model_id, graph_path, len(data) / 1e6)
        return meta_path


def load_text_onnx(
    checkpoint_dir: str | Path, *, export: bool = True, model=None, threads: int | None = None
) -> TextOnnx | None:
    """The checkpoint's ``TextOnnx``, exported first when missing, stale or corrupt (if ``export``); ``threads`` as
    for ``TextOnnx.open``.

    Returns None (the caller encodes with torch) when the text tower is not exportable, onnxruntime is not
    installed, or the export is missing and ``export`` is False or fails (the reason is logged).

    Raises:
        FileNotFoundError, ValueError: not a retriever checkpoint.
    """
    ckpt = read_checkpoint_meta(checkpoint_dir)
    if not supports_text_onnx(ckpt["config"]):
        return None
    try:
        return TextOnnx.open(checkpoint_dir, model_id=ckpt["model_id"], threads=threads)
    except ImportError as e:
        logger.info("onnxruntime not available (%s): queries are encoded with torch", e)
        return None
    except TextOnnxError as e:
        if not export:
            logger.info("%s: queries are encoded with torch", e)
            return None
        logger.warning("%s: exporting the text tower once (some seconds; later opens are fast)", e)
    try:
        export_text_onnx(checkpoint_dir, model=model)
        return TextOnnx.open(checkpoint_dir, model_id=ckpt["model_id"], threads=threads)
    except (ImportError, OSError, TextOnnxError) as e:
        logger.warning(
            "cannot export the text tower of %s to ONNX (%s): queries are encoded with torch", ckpt["model_id"], e
        )
        return None
