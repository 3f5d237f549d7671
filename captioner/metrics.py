"""Caption metrics: BLEU-1/4, CIDEr and ROUGE-L through pycocoevalcap's scorers, with a pure-Python tokeniser.

pycocoevalcap's own ``PTBTokenizer`` runs Stanford CoreNLP through Java; :func:`tokenize` stands in for it
(lowercase, punctuation stripped, split on whitespace), so the scores match pycocoevalcap's scorers called on
texts tokenised this way. Scores are reported x100, the layout of the paper's Table 4 and of most video
captioning tables (BLEU-4 40.1 rather than 0.401).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence

__all__ = ["CAPTION_METRICS", "caption_metrics", "mean_words", "tokenize"]

CAPTION_METRICS = ("BLEU-1", "BLEU-4", "CIDEr", "ROUGE-L")  # keys of caption_metrics(), in table order
_NON_WORD = re.compile(r"[^\w\s]+")


def tokenize(text: str) -> str:
    """Lowercase ``text``, replace punctuation by spaces and collapse whitespace (what the scorers split on).

    Example:
        >>> tokenize("A woman, in a PINK cheongsam!")
        'a woman in a pink cheongsam'
    """
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def caption_metrics(
    predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]
) -> dict[str, float]:
    """Corpus BLEU-1, BLEU-4, CIDEr and ROUGE-L (x100) of ``predictions`` against ``references``.

    Args:
        predictions: one generated text per id.
        references: one or more reference texts per id; must hold every id of ``predictions``.

    Returns:
        ``{"BLEU-1", "BLEU-4", "CIDEr", "ROUGE-L"}``, each x100. BLEU uses pycocoevalcap's "closest" reference
        length; CIDEr is CIDEr-D as pycocoevalcap computes it (document frequencies from these references).

    Raises:
        ValueError: no predictions, or an id without references.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if not predictions:
        raise ValueError("no predictions to score")
    missing = [k for k in predictions if not references.get(k)]
    if missing:
        raise ValueError(f"{len(missing)} prediction(s) have no reference text (e.g. id {missing[0]!r})")
    res = {k: [tokenize(v)] for k, v in predictions.items()}
    gts = {k: [tokenize(r) for r in references[k]] for k in predictions}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    return {
        "BLEU-1": 100 * bleu[0],
        "BLEU-4": 100 * bleu[3],
        "CIDEr": 100 * float(cider),
        "ROUGE-L": 100 * float(rouge),
    }


def mean_words(texts: Iterable[str]) -> float:
    """Mean number of words per text after :func:`tokenize` (0.0 for no texts)."""
    counts = [len(tokenize(t).split()) for t in texts]
    return sum(counts) / len(counts) if counts else 0.0
