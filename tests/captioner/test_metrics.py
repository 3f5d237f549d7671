"""Caption metrics: equal to pycocoevalcap's scorers on a fixed example set, with hand-checked values."""

from __future__ import annotations

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from captioner.metrics import CAPTION_METRICS, caption_metrics, mean_words, tokenize

# Raw texts as a captioner and annotators write them (capitals, punctuation) ...
PREDICTIONS = {
    1: "A woman in a pink cheongsam plays the erhu.",
    2: "The man, in a red shirt, waves and walks left!",
    3: "a bottle of shampoo on a white table",
    4: "A knight swings a sword; the HUD shows 120 gold.",
}
REFERENCES = {
    1: ["A woman in a pink cheongsam with a ponytail plays the erhu.", "A woman plays an instrument."],
    2: ["A man in a red striped shirt waves, then walks out of the frame to the left."],
    3: ["A green shampoo bottle stands on a white marble table."],
    4: ["An armoured knight swings his sword while the HUD shows 120 gold coins.", "A game character fights."],
}
# ... and the same texts tokenised by hand (lowercase, punctuation removed), fed to pycocoevalcap directly.
PRED_TOK = {
    1: ["a woman in a pink cheongsam plays the erhu"],
    2: ["the man in a red shirt waves and walks left"],
    3: ["a bottle of shampoo on a white table"],
    4: ["a knight swings a sword the hud shows 120 gold"],
}
REF_TOK = {
    1: ["a woman in a pink cheongsam with a ponytail plays the erhu", "a woman plays an instrument"],
    2: ["a man in a red striped shirt waves then walks out of the frame to the left"],
    3: ["a green shampoo bottle stands on a white marble table"],
    4: ["an armoured knight swings his sword while the hud shows 120 gold coins", "a game character fights"],
}


def test_tokenize_lowercases_and_strips_punctuation() -> None:
    for k, text in PREDICTIONS.items():
        assert tokenize(text) == PRED_TOK[k][0]
    assert tokenize("  Hello,world -- it's  ") == "hello world it s"


def test_equal_to_pycocoevalcap_scorers_called_directly() -> None:
    got = caption_metrics(PREDICTIONS, REFERENCES)
    assert list(got) == list(CAPTION_METRICS)
    bleu, _ = Bleu(4).compute_score(REF_TOK, PRED_TOK, verbose=0)
    cider, _ = Cider().compute_score(REF_TOK, PRED_TOK)
    rouge, _ = Rouge().compute_score(REF_TOK, PRED_TOK)
    want = {"BLEU-1": bleu[0], "BLEU-4": bleu[3], "CIDEr": cider, "ROUGE-L": rouge}
    for name in CAPTION_METRICS:
        assert got[name] == pytest.approx(100 * want[name], rel=1e-9), name
    assert 0 < got["BLEU-4"] < got["BLEU-1"] < 100


def test_hand_computed_bleu1_and_rouge_l() -> None:
    # 5 of 6 unigrams match, equal lengths (no brevity penalty); LCS "the cat on the mat" = 5 of 6 both ways
    got = caption_metrics({0: "The cat sat on the mat."}, {0: ["the cat is on the mat"]})
    assert got["BLEU-1"] == pytest.approx(100 * 5 / 6, abs=1e-6)
    assert got["ROUGE-L"] == pytest.approx(100 * 5 / 6, abs=1e-6)


def test_identical_predictions_score_one() -> None:
    refs = {k: [v[0]] for k, v in REFERENCES.items()}
    got = caption_metrics({k: v[0] for k, v in REFERENCES.items()}, refs)
    assert got["BLEU-1"] == pytest.approx(100.0, abs=1e-6)
    assert got["BLEU-4"] == pytest.approx(100.0, abs=1e-6)
    assert got["ROUGE-L"] == pytest.approx(100.0, abs=1e-6)
    assert got["CIDEr"] > caption_metrics(PREDICTIONS, refs)["CIDEr"]


def test_errors_and_mean_words() -> None:
    with pytest.raises(ValueError, match="no predictions"):
        caption_metrics({}, REFERENCES)
    with pytest.raises(ValueError, match="no reference text"):
        caption_metrics({9: "a cat"}, REFERENCES)
    assert mean_words(["A cat, sat.", "one two three four"]) == pytest.approx(3.5)
    assert mean_words([]) == 0.0
