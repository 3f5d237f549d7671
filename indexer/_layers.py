"""Walk the wrappers of a FAISS index (IDMap, PreTransform, Refine) down to the IVF / HNSW / Flat layer inside."""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss

__all__ = ["Layers", "faiss_message"]


def faiss_message(e: BaseException) -> str:
    # FAISS errors carry a C++ location line; the last line is the part a person can act on.
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else repr(e)


@dataclass
class Layers:
    """The layers of an index that ids and search parameters live in (downcast views, kept alive by ``top``)."""

    top: faiss.Index
    idmap: faiss.IndexIDMap | None = None
    pretransform: faiss.IndexPreTransform | None = None
    refine: faiss.IndexRefine | None = None
    ivf: faiss.IndexIVF | None = None
    hnsw: faiss.IndexHNSW | None = None
    quantizer_hnsw: faiss.IndexHNSW | None = None
    leaf: faiss.Index | None = None
    chain: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, index: faiss.Index) -> Layers:
        parts = cls(top=index)
        idx = faiss.downcast_index(index)
        while True:
            parts.chain.append(type(idx).__name__)
            if isinstance(idx, faiss.IndexIDMap):  # IndexIDMap2 is a subclass
                parts.idmap = idx
                idx = faiss.downcast_index(idx.index)
            elif isinstance(idx, faiss.IndexPreTransform):
                parts.pretransform = idx
                idx = faiss.downcast_index(idx.index)
            elif isinstance(idx, faiss.IndexRefine):
                parts.refine = idx
                idx = faiss.downcast_index(idx.base_index)
            elif isinstance(idx, faiss.IndexIVF):
                parts.ivf = idx
                quantizer = faiss.downcast_index(idx.quantizer)
                if isinstance(quantizer, faiss.IndexHNSW):
                    parts.quantizer_hnsw = quantizer
                return parts
            elif isinstance(idx, faiss.IndexHNSW):
                parts.hnsw = idx
                return parts
            else:
                parts.leaf = idx
                return parts

    @property
    def kind(self) -> str:
        return " > ".join(self.chain)

    @property
    def exact(self) -> bool:
        return isinstance(self.leaf, faiss.IndexFlat) and self.pretransform is None and self.refine is None
