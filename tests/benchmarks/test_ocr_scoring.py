"""benchmarks.ocr's string matching and scores, on hand-written cases."""

from __future__ import annotations

import pytest

from benchmarks.ocr import normalize, score_clip, summarize


@pytest.mark.parametrize(
    ("a", "b"),
    [("50% off", "50% OFF"), (" -30 % ", "30%"), ("Shop  Now!", "SHOPNOW"), ("$9.99", "＄9.99"), ("KOVA.", "KOVA")],
)
def test_normalize_folds_case_space_and_punctuation(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_normalize_keeps_currency_and_digits_apart() -> None:
    assert normalize("$29") != normalize("29")
    assert normalize("$9.99") != normalize("$999")


def test_score_clip_counts_overlays_for_recall_and_every_string_for_precision() -> None:
    truth = [("JADE", "brand"), ("50% OFF", "badge"), ("2300", "hud"), ("LUMA", "label")]
    s = score_clip(truth, ["jade", "50%", "OFF", "LUMA", "JA", "jade"])
    assert s.found == ["JADE", "50% OFF"]  # the badge read in two pieces still counts
    assert s.missed == ["2300"]  # the label is not required
    assert sorted(s.correct) == ["50%", "JADE", "LUMA", "OFF"]  # a word of a string, a label: not errors
    assert s.wrong == ["JA"]  # a fragment is an error; the duplicate "jade" counts once
    assert s.roles_total == {"brand": 1, "badge": 1, "hud": 1} and s.roles_found == {"brand": 1, "badge": 1}


def test_a_clip_without_text_makes_every_read_line_wrong() -> None:
    s = score_clip([], ["8", "", "  "])
    assert s.found == s.missed == [] and s.wrong == ["8"]


def test_summarize() -> None:
    scores = [score_clip([("KOVA", "brand"), ("$19", "price")], ["KOVA", "19"]), score_clip([], [])]
    out = summarize(scores)
    assert (out["clips"], out["overlay_strings"], out["found"], out["recall"]) == (2, 2, 1, 0.5)
    assert (out["lines_read"], out["lines_correct"], out["precision"]) == (2, 1, 0.5)
    assert out["by_role"]["price"] == {"strings": 1, "found": 0, "recall": 0.0}
    assert out["by_role"]["cta"]["recall"] is None
    assert summarize([])["recall"] is None
